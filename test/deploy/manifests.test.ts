// The deployment files agree with each other and with warmroute: Kubernetes objects pass
// their schemas (offline), and the Dockerfile, the manifests, the configs and the systemd
// unit name the same ports, paths, probes, users and time limits.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { basename, dirname, join, posix, resolve } from 'node:path';
import { loadConfig } from '../../src/config.js';
import t, { type Test } from 'tap';
import { parseAllDocuments } from 'yaml';
import { ConfigMap, Service } from 'kubernetes-models/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { parseRegistry } from '../../src/registry.js';

// The project root: tap runs every test from it (the tests run compiled, from dist/test/).
const root = resolve('.');
const kubeDir = join(root, 'deploy', 'kubernetes');
const read = (...parts: string[]): string => readFileSync(join(root, ...parts), 'utf8');

type Json = Record<string, unknown>;
interface KubeObject { file: string; apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [key: string]: unknown }

// ---- Kubernetes: parse and schema-check -------------------------------------------------

/** The schema of each kind the manifests use (Kubernetes 1.27 OpenAPI, bundled: no network). */
const models: Record<string, new (data: Json) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

function schemaErrors(object: Json): string | undefined {
  const Model = models[`${String(object.apiVersion)}/${String(object.kind)}`];
  if (Model === undefined) return `no schema for ${String(object.apiVersion)} ${String(object.kind)}`;
  try {
    new Model(object).validate();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

function loadManifests(): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const file of readdirSync(kubeDir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
    if (file === 'kustomization.yaml') continue;
    for (const doc of parseAllDocuments(readFileSync(join(kubeDir, file), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const value = doc.toJS() as KubeObject | null;
      if (value !== null) objects.push({ ...value, file });
    }
  }
  return objects;
}

const objects = loadManifests();
const withoutFile = ({ file: _file, ...rest }: KubeObject): Json => rest;
function one<T = KubeObject>(kind: string, name: string): T {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
  return found[0] as T;
}

// ---- Dockerfile --------------------------------------------------------------------------

interface Instruction { keyword: string; args: string }
interface Stage { name: string | undefined; instructions: Instruction[] }

/** Instructions by stage, with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, keyword, args] = /^(\S+)\s*(.*)$/.exec(line)!;
    const instruction = { keyword: keyword!.toUpperCase(), args: args!.replace(/\s+/g, ' ') };
    if (instruction.keyword === 'FROM') stages.push({ name: /\bAS\s+(\S+)$/i.exec(instruction.args)?.[1], instructions: [] });
    else if (stages.length > 0) stages.at(-1)!.instructions.push(instruction);
    else if (instruction.keyword !== 'ARG') throw new Error(`Dockerfile: ${instruction.keyword} before FROM`);
  }
  return stages;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const runtime = dockerfile.at(-1)!;
const last = (stage: Stage, keyword: string): Instruction | undefined => stage.instructions.filter((i) => i.keyword === keyword).at(-1);
const execForm = (args: string): string[] => JSON.parse(args) as string[];
const dockerCmd = execForm(last(runtime, 'CMD')!.args);
const configPath = dockerCmd[dockerCmd.indexOf('-c') + 1]!;

// ---- warmroute configs -------------------------------------------------------------------

/** Keys the config module is gaining now (DNS workers, health polls, graceful stop). */
/** The example config must load under `warmroute check --strict` rules: every key known, every value valid. */
async function checkWarmrouteConfig(t: Test, text: string, source: string): Promise<Json> {
  const config = JSON.parse(text) as Json;
  t.type(config, 'object', `${source} is a JSON object`);
  t.doesNotThrow(() => loadConfig({ values: config, source, baseDir: '/', strict: true }), `${source} loads with loadConfig, strict`);
  return config;
}

// ---- systemd -----------------------------------------------------------------------------

/** `[Section]` -> key -> every value given (systemd allows repeats). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const kv = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!kv || current === undefined) throw new Error(`unit line not understood: ${line}`);
    current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
  }
  return sections;
}

const seconds = (value: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|min)?$/.exec(value.trim());
  if (!m) throw new Error(`not a systemd time span: ${value}`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, min: 60 }[m[2] ?? 's'] ?? 1);
};

// ---- the checks --------------------------------------------------------------------------

t.test('every Kubernetes object passes its schema', async (t) => {
  const kinds = objects.map((o) => o.kind).sort();
  t.same(kinds, ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service', 'Service', 'StatefulSet'], 'the proxy\'s objects and the example workers\'');
  for (const object of objects) {
    t.equal(schemaErrors(withoutFile(object)), undefined, `${object.file}: ${object.kind} ${object.metadata.name}`);
  }
  // The validator is live: it refuses what the API server would.
  const deployment = structuredClone(withoutFile(one('Deployment', 'warmroute'))) as { spec: { replicas: unknown } };
  deployment.spec.replicas = 'three';
  t.match(schemaErrors(deployment as unknown as Json), /replicas must be integer/);
});

t.test('kustomization lists the proxy\'s manifests, which exist', async (t) => {
  const kustomization = parseAllDocuments(readFileSync(join(kubeDir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[] };
  for (const file of kustomization.resources) t.ok(existsSync(join(kubeDir, file)), `${file} exists`);
  const proxyFiles = [...new Set(objects.filter((o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'warmroute').map((o) => o.file))];
  t.same([...kustomization.resources].sort(), proxyFiles.sort(), 'every proxy manifest, and only those (workers are an example)');
});

t.test('Dockerfile: multi-stage build, production deps, non-root, health check, the CMD', async (t) => {
  t.ok(dockerfile.length >= 2, 'multi-stage');
  const runs = (stage: Stage): string[] => stage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
  const build = dockerfile.find((s) => runs(s).some((r) => /\bnpm run build\b/.test(r)));
  t.ok(build && runs(build).some((r) => /\bnpm ci\b/.test(r)), 'a stage installs with npm ci and builds');
  const tsconfig = JSON.parse(read('tsconfig.json')) as { include: string[] };
  const copied = build!.instructions.filter((i) => i.keyword === 'COPY').map((i) => i.args.split(' ')[0]);
  for (const folder of tsconfig.include) t.ok(copied.includes(folder), `the build stage copies ${folder} (tsconfig.json compiles it)`);

  const copiesFrom = runtime.instructions.filter((i) => i.keyword === 'COPY' && i.args.startsWith('--from='));
  const depsStage = copiesFrom.find((i) => /\bnode_modules\b/.test(i.args))?.args.match(/^--from=(\S+)/)?.[1];
  const deps = dockerfile.find((s) => s.name === depsStage);
  t.ok(deps && runs(deps).some((r) => /\bnpm ci\b.*--omit=dev/.test(r)), 'runtime node_modules come from an npm ci --omit=dev stage');
  t.notOk(runs(runtime).some((r) => /\bnpm (ci|install)\b/.test(r)), 'the runtime stage installs nothing itself');
  t.ok(copiesFrom.some((i) => /\bdist\b/.test(i.args)), 'runtime gets the compiled dist/');
  t.ok(runtime.instructions.some((i) => i.keyword === 'COPY' && i.args.startsWith('pipbench/data')), 'runtime has the cost samples the simulated workers read');

  const user = last(runtime, 'USER')?.args ?? 'root';
  t.notMatch(user, /^(root|0)(:|$)/, `USER ${user} is not root`);
  t.match(user, /^\d+(:\d+)?$/, 'a numeric user, which runAsNonRoot can verify');

  t.same(dockerCmd, ['node', 'dist/src/cli.js', 'start', '-c', '/etc/warmroute/config.json']);
  const expose = last(runtime, 'EXPOSE')?.args;
  t.equal(expose, '9080');
  const health = last(runtime, 'HEALTHCHECK')!.args;
  const healthCmd = execForm(health.slice(health.indexOf('CMD ') + 4));
  t.equal(healthCmd[0], 'node', 'the health check needs nothing but node');
  t.match(healthCmd.join(' '), new RegExp(`http://127\\.0\\.0\\.1:${expose}/healthz`), 'asks /healthz on the exposed port');
});

t.test('.dockerignore keeps out what the image must not carry and nothing the build copies', async (t) => {
  const patterns = read('.dockerignore').split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const must of ['node_modules', 'dist', '.git']) t.ok(patterns.includes(must), `ignores ${must}`);
  const sources = dockerfile.flatMap((s) => s.instructions)
    .filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from='))
    .flatMap((i) => i.args.split(' ').slice(0, -1));
  for (const source of sources) {
    const hit = patterns.find((p) => source === p || source.startsWith(`${p}/`));
    t.equal(hit, undefined, `${source} reaches the build`);
    t.ok(existsSync(join(root, source)), `${source} exists`);
  }
});

t.test('the ConfigMap holds a warmroute config and a registry, where the CMD reads them', async (t) => {
  const configMap = one<KubeObject & { data: Record<string, string> }>('ConfigMap', 'warmroute-config');
  t.ok(configMap.data[basename(configPath)], `it has ${basename(configPath)}`);
  const config = await checkWarmrouteConfig(t, configMap.data[basename(configPath)]!, 'configmap config.json');
  t.equal(config.host, '0.0.0.0', 'listens on every interface of the pod');
  t.equal(dirname(String(config.registry)), dirname(configPath), 'the registry is in the mounted folder');
  const registryText = configMap.data[basename(String(config.registry))];
  t.ok(registryText, 'and in the ConfigMap');
  const registry = parseRegistry(JSON.parse(registryText!), 'configmap registry.json');
  t.ok(registry.size > 0, 'the registry parses and names functions');
  t.equal(config.dnsType, 'srv');
  t.notOk('workers' in config && (config.workers as unknown[]).length > 0, 'workers come from DNS, not a static list');
});

t.test('Deployment: replicas, image, ports, probes, mount, resources, security, grace period', async (t) => {
  const deployment = one<Json & { spec: Json & { template: { metadata: { labels: Record<string, string> }; spec: Json } } }>('Deployment', 'warmroute');
  const config = JSON.parse(one<KubeObject & { data: Record<string, string> }>('ConfigMap', 'warmroute-config').data[basename(configPath)]!) as Json;
  const pod = deployment.spec.template.spec as {
    containers: {
      image: string; command?: string[]; ports: { name: string; containerPort: number }[];
      readinessProbe: { httpGet: { path: string; port: string | number } }; livenessProbe: { httpGet: { path: string; port: string | number } };
      resources: { requests: Json; limits: Json }; volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
      lifecycle?: { preStop?: { exec?: { command: string[] } } }; securityContext: Json;
    }[];
    volumes: { name: string; configMap?: { name: string } }[];
    securityContext: { runAsNonRoot?: boolean; runAsUser?: number };
    terminationGracePeriodSeconds: number;
  };
  t.equal(deployment.spec.replicas, 3);
  t.equal(pod.containers.length, 1);
  const container = pod.containers[0]!;
  const version = (JSON.parse(read('package.json')) as { version: string }).version;
  t.equal(container.image, `warmroute:${version}`, 'the image built from this version');
  if (container.command) t.same(container.command, dockerCmd, 'the command, if given, is the image\'s CMD');

  const portOf = (port: string | number): number | undefined =>
    typeof port === 'number' ? port : container.ports.find((p) => p.name === port)?.containerPort;
  t.same(container.ports.map((p) => p.containerPort), [config.port], 'the container port is the config\'s port');
  t.equal(String(config.port), last(runtime, 'EXPOSE')?.args, 'and the image\'s EXPOSE');
  t.equal(container.readinessProbe.httpGet.path, '/readyz');
  t.equal(portOf(container.readinessProbe.httpGet.port), config.port);
  t.equal(container.livenessProbe.httpGet.path, '/healthz');
  t.equal(portOf(container.livenessProbe.httpGet.port), config.port);

  const mount = container.volumeMounts.find((m) => m.mountPath === dirname(configPath));
  t.ok(mount, `something is mounted at ${dirname(configPath)}`);
  t.equal(mount?.readOnly, true, 'read-only');
  t.equal(pod.volumes.find((v) => v.name === mount?.name)?.configMap?.name, 'warmroute-config', 'it is the ConfigMap');

  for (const kind of ['requests', 'limits'] as const) {
    t.ok(container.resources[kind]?.cpu && container.resources[kind]?.memory, `cpu and memory ${kind}`);
  }
  t.equal(pod.securityContext.runAsNonRoot, true);
  t.equal(String(pod.securityContext.runAsUser), last(runtime, 'USER')!.args.split(':')[0], 'the image\'s user');
  t.equal(container.securityContext.readOnlyRootFilesystem, true, 'the proxy writes nothing to its filesystem');

  const preStop = container.lifecycle?.preStop?.exec?.command;
  const pause = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
  const shutdown = Number(config.shutdownTimeoutMs) / 1000;
  t.ok(Number.isFinite(shutdown) && shutdown > 0, 'the config sets shutdownTimeoutMs');
  t.ok(pod.terminationGracePeriodSeconds > pause + shutdown,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} > preStop ${pause} s + shutdownTimeoutMs ${shutdown} s`);
});

t.test('Service and PodDisruptionBudget select the Deployment\'s pods', async (t) => {
  const deployment = one<Json & { spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports: { name: string; containerPort: number }[] }[] } } } }>('Deployment', 'warmroute');
  const labels = deployment.spec.template.metadata.labels;
  const selects = (selector: Record<string, string>): boolean => Object.entries(selector).every(([k, v]) => labels[k] === v);
  t.ok(selects(deployment.spec.selector.matchLabels), 'the Deployment selects its own template');

  const service = one<Json & { spec: { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] } }>('Service', 'warmroute');
  t.ok(selects(service.spec.selector), 'the Service selects the proxy pods');
  const containerPorts = deployment.spec.template.spec.containers[0]!.ports;
  for (const port of service.spec.ports) {
    const target = typeof port.targetPort === 'number' ? port.targetPort : containerPorts.find((p) => p.name === port.targetPort)?.containerPort;
    t.ok(containerPorts.some((p) => p.containerPort === target), `Service port ${port.port} reaches a container port`);
  }

  const pdb = one<Json & { spec: { selector: { matchLabels: Record<string, string> }; maxUnavailable?: number; minAvailable?: number } }>('PodDisruptionBudget', 'warmroute');
  t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels, 'the PDB selects exactly the Deployment\'s pods');
  const allowedDown = pdb.spec.maxUnavailable ?? deployment.spec.replicas - (pdb.spec.minAvailable ?? deployment.spec.replicas);
  t.ok(allowedDown >= 1 && allowedDown < deployment.spec.replicas, 'drains can proceed, one replica at a time, never all');
});

t.test('example workers: the SRV name warmroute resolves, stable pod names, connection limits split over replicas', async (t) => {
  const config = JSON.parse(one<KubeObject & { data: Record<string, string> }>('ConfigMap', 'warmroute-config').data[basename(configPath)]!) as Json;
  const headless = objects.find((o) => o.kind === 'Service' && (o.spec as { clusterIP?: string } | undefined)?.clusterIP === 'None') as
    (KubeObject & { spec: { selector: Record<string, string>; ports: { name: string; protocol?: string; port: number }[] } }) | undefined;
  t.ok(headless, 'a headless Service for the workers');
  const port = headless!.spec.ports[0]!;
  const namespace = headless!.metadata.namespace ?? 'default';
  t.equal(config.dnsName, `_${port.name}._${(port.protocol ?? 'TCP').toLowerCase()}.${headless!.metadata.name}.${namespace}.svc.cluster.local`,
    'the proxy resolves the SRV name Kubernetes publishes for the named port');

  const workers = one<KubeObject & { spec: { serviceName: string; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string> }; spec: { containers: { command: string[]; ports: { containerPort: number }[] }[] } } } }>('StatefulSet', headless!.metadata.name);
  t.equal(workers.spec.serviceName, headless!.metadata.name, 'the StatefulSet\'s pods get stable names under the headless Service');
  t.ok(Object.entries(headless!.spec.selector).every(([k, v]) => workers.spec.template.metadata.labels[k] === v), 'the headless Service selects the workers');
  const container = workers.spec.template.spec.containers[0]!;
  t.ok(container.ports.some((p) => p.containerPort === port.port), 'the worker listens on the published port');

  const cores = Number(container.command[container.command.indexOf('--cores') + 1]);
  const replicas = one<Json & { spec: { replicas: number } }>('Deployment', 'warmroute').spec.replicas;
  t.equal(Number(config.connectionsPerWorker) * replicas, cores,
    `connectionsPerWorker ${String(config.connectionsPerWorker)} x ${replicas} replicas = the worker's concurrency ${cores}`);
});

t.test('systemd unit: start command, reload by SIGHUP, restart, stop time, limits, hardening', async (t) => {
  const unit = parseUnit(read('deploy', 'systemd', 'warmroute.service'));
  const service = unit.get('Service')!;
  const get = (key: string): string | undefined => service.get(key)?.at(-1);
  const execStart = get('ExecStart')!.split(' ');
  t.same(execStart.slice(-3), dockerCmd.slice(-3), 'the same start command as the image');
  t.ok(execStart[0]!.startsWith('/') && basename(execStart[0]!) === 'node', 'an absolute node');
  t.ok(posix.isAbsolute(execStart[1]!) && execStart[1]!.endsWith(dockerCmd[1]!), 'an absolute cli.js');
  t.equal(get('ExecReload'), '/bin/kill -HUP $MAINPID');
  t.equal(get('Restart'), 'on-failure');
  t.ok(get('DynamicUser') === 'yes' || (get('User') !== undefined && get('User') !== 'root'), 'not root');
  t.ok(Number(get('LimitNOFILE')) >= 65536, 'room for many sockets');
  for (const key of ['NoNewPrivileges', 'ProtectSystem', 'ProtectHome', 'PrivateTmp']) t.ok(get(key), `${key} is set`);
  t.notOk(get('MemoryDenyWriteExecute') === 'yes', 'V8 needs writable executable memory');
  t.equal(unit.get('Install')?.get('WantedBy')?.[0], 'multi-user.target');

  const config = await checkWarmrouteConfig(t, read('deploy', 'systemd', 'config.json'), 'deploy/systemd/config.json');
  t.equal(join(dirname(configPath), 'config.json'), execStart.at(-1), 'the example config is the one the unit reads');
  const shutdown = Number(config.shutdownTimeoutMs) / 1000;
  t.ok(seconds(get('TimeoutStopSec')!) > shutdown, `TimeoutStopSec ${get('TimeoutStopSec')} > shutdownTimeoutMs ${shutdown} s`);
});

const systemdAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const noSystemdAnalyze = systemdAnalyze.error ? 'systemd-analyze is not installed; the unit is checked by parsing only' : false;

t.test('systemd-analyze accepts the unit', { skip: noSystemdAnalyze }, async (t) => {
  const run = spawnSync('systemd-analyze', ['verify', '--man=no', join(root, 'deploy', 'systemd', 'warmroute.service')], { encoding: 'utf8' });
  // verify exits 0 on ignored keys and values; its complaints about the file are on stderr.
  const complaints = run.stderr.split('\n').filter((l) => l.includes('warmroute.service') && !/is not executable/.test(l));
  t.same(complaints, [], 'no unknown keys or unparsable values');
});

t.test('the image, the Deployment and the unit give node the same young-generation size (results/memory)', async (t) => {
  const semiSpace = (nodeOptions: string | undefined): string | undefined => /(?:^|\s)--max-semi-space-size=(\d+)(?:\s|$)/.exec(nodeOptions ?? '')?.[1];
  const imageEnv = runtime.instructions.filter((i) => i.keyword === 'ENV').map((i) => /^NODE_OPTIONS=(.*)$/.exec(i.args)?.[1]).find((v) => v !== undefined);
  const container = (one<Json & { spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } } }>('Deployment', 'warmroute')).spec.template.spec.containers[0]!;
  // The Deployment's NODE_OPTIONS replaces the image's, so it must carry the flag too.
  const podEnv = container.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  const unitEnv = parseUnit(read('deploy', 'systemd', 'warmroute.service')).get('Service')!.get('Environment')
    ?.map((e) => /^"?NODE_OPTIONS=([^"]*)"?$/.exec(e)?.[1]).find((v) => v !== undefined);
  const image = semiSpace(imageEnv);
  t.ok(image !== undefined, `the image's NODE_OPTIONS sets --max-semi-space-size (${imageEnv ?? 'no NODE_OPTIONS'})`);
  t.equal(semiSpace(podEnv), image, `the Deployment's NODE_OPTIONS (${podEnv ?? 'none'}) sets the same`);
  t.equal(semiSpace(unitEnv), image, `the unit's NODE_OPTIONS (${unitEnv ?? 'none'}) sets the same`);
});
