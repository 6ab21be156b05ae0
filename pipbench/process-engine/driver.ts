// The Python side of a warm interpreter, run as `python -I -S -u -c DRIVER
// HANDLER_DIR PACKAGE_DIR...`: isolated (-I: no user site, no PYTHON*
// variables, no current folder) and without site-packages (-S), so that its
// path holds the standard library, the handler's folder and exactly its
// packages' folders. It imports lambda_func, says so on its protocol stream,
// then answers one JSON request a line with one JSON answer a line, until its
// stdin closes. What the handler prints goes to stderr, never into the protocol.

const DRIVER_SOURCE = String.raw`
import sys, os, json, time

def one_line(err):
    text = (type(err).__name__ + ": " + str(err)).strip()
    return " ".join(text.split())[:500]

def main():
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL: never outlive the worker
    except Exception:
        pass
    sys.path[:0] = sys.argv[1:]
    started = time.perf_counter()
    cpu = time.process_time()
    try:
        import lambda_func
        handler = lambda_func.handler
    except BaseException as err:
        proto.write(json.dumps({"ready": False, "error": one_line(err)}) + "\n")
        return 3
    proto.write(json.dumps({"ready": True, "importMs": (time.perf_counter() - started) * 1000, "importCpuMs": (time.process_time() - cpu) * 1000}) + "\n")
    for line in sys.stdin:
        event = json.loads(line)
        started = time.perf_counter()
        try:
            answer = json.dumps({"ok": True, "result": handler(event), "runMs": (time.perf_counter() - started) * 1000})
        except BaseException as err:
            answer = json.dumps({"ok": False, "error": one_line(err), "runMs": (time.perf_counter() - started) * 1000})
        proto.write(answer + "\n")
    return 0

sys.exit(main())
`;

/** Arguments of the interpreter for one handler: its folder first, then its packages' folders. */
export function driverArgs(handlerDir: string, packageDirs: readonly string[]): string[] {
  return ['-I', '-S', '-u', '-c', DRIVER_SOURCE, handlerDir, ...packageDirs];
}
