import { preprocess } from './preprocess.ts';

export interface PipelineSpec {
  /** WGSL source, possibly with `#if` blocks. */
  code: string;
  /** Used in error messages and GPU labels. */
  label: string;
  entryPoint?: string;
  defines?: Record<string, boolean>;
  constants?: Record<string, number>;
}

/**
 * Pipelines keyed by (source, defines, constants). Creating a pipeline is the slow part of a first
 * dispatch, so each distinct variant is compiled once per device.
 */
export class PipelineCache {
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly sourceIds = new Map<string, number>();
  /** Compilations so far; tests read it to check reuse. */
  compiled = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly onError: (label: string, p: Promise<GPUError | null>) => void,
  ) {}

  get(spec: PipelineSpec): GPUComputePipeline {
    let id = this.sourceIds.get(spec.code);
    if (id === undefined) {
      id = this.sourceIds.size;
      this.sourceIds.set(spec.code, id);
    }
    const key = `${id}|${spec.entryPoint ?? 'main'}|${recordKey(spec.defines)}|${recordKey(spec.constants)}`;
    let p = this.pipelines.get(key);
    if (!p) {
      this.device.pushErrorScope('validation');
      const module = this.device.createShaderModule({
        code: preprocess(spec.code, spec.defines),
        label: spec.label,
      });
      p = this.device.createComputePipeline({
        label: spec.label,
        layout: 'auto',
        compute: { module, entryPoint: spec.entryPoint ?? 'main', constants: spec.constants },
      });
      this.onError(spec.label, this.device.popErrorScope());
      this.pipelines.set(key, p);
      this.compiled++;
    }
    return p;
  }

  get size(): number {
    return this.pipelines.size;
  }
}

/** A key for a defines/constants record that does not depend on its key order (hot path: no JSON). */
function recordKey(o: Record<string, unknown> | undefined): string {
  if (!o) return '';
  const keys = Object.keys(o);
  keys.sort();
  let key = '';
  for (const k of keys) key += `${k}=${String(o[k])};`;
  return key;
}
