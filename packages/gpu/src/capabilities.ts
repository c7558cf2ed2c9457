/** What a device can do, as reported by `llara doctor` and used to pick kernel variants. */
export interface SubgroupMatrixConfig {
  componentType: string;
  resultComponentType: string;
  M: number;
  N: number;
  K: number;
}

export interface Capabilities {
  adapter: { vendor: string; architecture: string; device: string; description: string };
  backend: string;
  isFallbackAdapter: boolean;
  features: string[];
  limits: Record<string, number>;
  subgroupSizes: { min: number; max: number } | null;
  subgroupMatrixConfigs: SubgroupMatrixConfig[];
}

const LIMIT_NAMES = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBuffersPerShaderStage',
  'maxUniformBufferBindingSize',
  'minUniformBufferOffsetAlignment',
  'minStorageBufferOffsetAlignment',
] as const;

// biome-ignore lint/suspicious/noExplicitAny: adapter info fields differ between Dawn, Chrome and the spec.
type Loose = any;

export function readCapabilities(adapter: GPUAdapter, device: GPUDevice): Capabilities {
  const info: Loose = (device as Loose).adapterInfo ?? adapter.info ?? {};
  const limits: Record<string, number> = {};
  for (const name of LIMIT_NAMES) {
    const v = (device.limits as Loose)[name];
    if (typeof v === 'number') limits[name] = v;
  }
  const configs: Loose[] = Array.from(info.subgroupMatrixConfigs ?? []);
  const min = info.subgroupMinSize ?? 0;
  const max = info.subgroupMaxSize ?? 0;
  return {
    adapter: {
      vendor: String(info.vendor ?? ''),
      architecture: String(info.architecture ?? ''),
      device: String(info.device ?? ''),
      description: String(info.description ?? ''),
    },
    backend: String(info.backendType ?? info.backend ?? 'unknown'),
    isFallbackAdapter: Boolean(info.isFallbackAdapter ?? (adapter as Loose).isFallbackAdapter ?? false),
    features: [...device.features].map(String).sort(),
    limits,
    subgroupSizes: device.features.has('subgroups') && min > 0 ? { min, max } : null,
    subgroupMatrixConfigs: configs.map((c) => ({
      componentType: String(c.componentType),
      resultComponentType: String(c.resultComponentType),
      M: Number(c.M),
      N: Number(c.N),
      K: Number(c.K),
    })),
  };
}

/** A human-readable report, one fact per line. */
export function formatCapabilities(caps: Capabilities): string {
  const a = caps.adapter;
  const name = a.device || a.description || a.architecture || '(unnamed adapter)';
  const lines = [
    `adapter:   ${name}${caps.isFallbackAdapter ? ' (software fallback)' : ''}`,
    `vendor:    ${a.vendor || '?'}  architecture: ${a.architecture || '?'}  backend: ${caps.backend}`,
    `features:  ${caps.features.join(', ')}`,
    `subgroups: ${caps.subgroupSizes ? `${caps.subgroupSizes.min}..${caps.subgroupSizes.max}` : 'no'}`,
    `subgroup matrices: ${
      caps.subgroupMatrixConfigs.length === 0
        ? 'none'
        : caps.subgroupMatrixConfigs
            .map((c) => `${c.componentType}->${c.resultComponentType} ${c.M}x${c.N}x${c.K}`)
            .join(', ')
    }`,
    'limits:',
  ];
  for (const [k, v] of Object.entries(caps.limits)) lines.push(`  ${k}: ${v.toLocaleString('en-US')}`);
  return lines.join('\n');
}
