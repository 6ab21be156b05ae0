# Instructions per routed request, per JavaScript function (and V8 builtin), from two callgrind runs of stream.mjs
# that differ only in N: (I(N2) - I(N1)) / (N2 - N1) for each function, so start-up and warm-up cancel. Addresses of
# optimized JavaScript are named from the perf map node writes with --perf-basic-prof; code callgrind names itself
# (node's C++, libraries) keeps callgrind's name. Optimized code holds the functions the compiler inlined into it.
#
# usage: python3 attribute.py MAP1 CALLGRIND1 N1 MAP2 CALLGRIND2 N2
import bisect, collections, sys

def usage():
    sys.stderr.write('usage: python3 attribute.py MAP1 CALLGRIND1 N1 MAP2 CALLGRIND2 N2\n')
    sys.exit(2)

def per_function(map_file, callgrind_file):
    code = []
    for line in open(map_file):
        start, size, name = line.rstrip('\n').split(' ', 2)
        code.append((int(start, 16), int(size, 16), name))
    code.sort()
    starts = [c[0] for c in code]
    cost = collections.Counter()
    last, skip, fn = 0, False, ''
    for line in open(callgrind_file):
        if line.startswith('fn='):
            fn = line.strip()[3:].split(')')[-1].strip()
            continue
        if line.startswith('calls='):
            skip = True  # the next cost line is the call's inclusive cost, counted in the callee
            continue
        if not line or line[0] not in '0+-*':
            continue
        fields = line.split()
        if len(fields) < 3:
            continue
        pos = fields[0]
        addr = int(pos, 16) if pos.startswith('0x') else last + int(pos[1:]) if pos[0] == '+' else last - int(pos[1:]) if pos[0] == '-' else last
        last = addr
        if skip:
            skip = False
            continue
        i = bisect.bisect_right(starts, addr) - 1
        if i >= 0 and addr < code[i][0] + code[i][1]:
            name = code[i][2]
            name = name.split(' ')[0] + ' ' + name.split('/')[-1]
        else:
            name = fn[:60]
        cost[name] += int(fields[2])
    return cost

if len(sys.argv) != 7:
    usage()
try:
    n1, n2 = int(sys.argv[3]), int(sys.argv[6])
except ValueError:
    usage()
if n2 <= n1:
    usage()
try:
    a = per_function(sys.argv[1], sys.argv[2])
    b = per_function(sys.argv[4], sys.argv[5])
except (OSError, ValueError) as err:
    sys.stderr.write(f'attribute.py: cannot read a perf map or callgrind file: {err}\n')
    sys.exit(2)
diff = {k: (b[k] - a[k]) / (n2 - n1) for k in set(a) | set(b)}
for name, v in sorted(diff.items(), key=lambda x: -x[1]):
    if abs(v) >= 1:
        print(f'{v:8.0f} {name}')
