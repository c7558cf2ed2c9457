/**
 * The `llara` command. Every long command prints progress to stderr and its result to stdout.
 * Exit codes: 0 ok, 1 user error (one sentence), 2 internal error.
 */
import { GpuError } from '@llara/gpu';
import { Command, CommanderError } from 'commander';
import { registerDemo } from './commands/demo.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerEmbed } from './commands/embed.ts';
import { registerEval } from './commands/eval.ts';
import { registerExport } from './commands/export.ts';
import { registerFinetune } from './commands/finetune.ts';
import { registerHidden } from './commands/hidden.ts';
import { registerIndexBuild } from './commands/index-build.ts';
import { registerModelInfo } from './commands/model-info.ts';
import { registerPretrain } from './commands/pretrain.ts';
import { registerSearch } from './commands/search.ts';
import { registerServe } from './commands/serve.ts';
import { Interrupted, UserError } from './errors.ts';

export function buildProgram(): Command {
  const program = new Command('llara')
    .description('LLaRA on WebGPU: turn a LLaMA model into a dense retriever, embed, index and search.')
    .exitOverride();
  registerDoctor(program);
  registerModelInfo(program);
  registerHidden(program);
  registerPretrain(program);
  registerFinetune(program);
  registerEval(program);
  registerDemo(program);
  registerExport(program);
  registerEmbed(program);
  registerIndexBuild(program);
  registerSearch(program);
  registerServe(program);
  pointToHelp(program, 'llara');
  return program;
}

/** A usage error prints its sentence and where the help is, not the whole help text. */
function pointToHelp(command: Command, path: string): void {
  command.showHelpAfterError(`(see \`${path} --help\`)`);
  for (const sub of command.commands) pointToHelp(sub, `${path} ${sub.name()}`);
}

function isUserError(e: unknown): e is Error {
  if (e instanceof UserError || e instanceof GpuError) return true;
  // Errors thrown by loaders for bad files are marked with `userFacing`.
  return e instanceof Error && (e as { userFacing?: boolean }).userFacing === true;
}

export async function main(argv: string[]): Promise<number> {
  const args = argv[0] === '--' ? argv.slice(1) : argv;
  const program = buildProgram();
  try {
    await program.parseAsync(args, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    if (e instanceof Interrupted) {
      console.error(`llara: ${e.message}`);
      return e.exitCode;
    }
    if (isUserError(e)) {
      console.error(`llara: ${e.message}`);
      return 1;
    }
    console.error(`llara: internal error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 2;
  }
}
