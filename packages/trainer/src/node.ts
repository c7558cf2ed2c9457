export {
  type CheckpointContent,
  CheckpointError,
  type CheckpointFaults,
  checkpointDirName,
  decodeFloatSafetensors,
  encodeFloatSafetensors,
  type FloatArray,
  type LoadedCheckpoint,
  latestCheckpoint,
  OPTIMIZER_FILE,
  pruneCheckpoints,
  readCheckpoint,
  resolveCheckpointDir,
  TRAINER_STATE_FILE,
  type TrainerState,
  writeCheckpoint,
} from './checkpoint-io.ts';
export {
  FinetuneInputError,
  type FinetuneRunOptions,
  type FinetuneRunResult,
  type FinetuneStartInfo,
  readFinetuneData,
  runFinetune,
} from './finetune-node.ts';
export { lossCurve, type PretrainRunOptions, readPretrainData, runPretrain } from './pretrain-node.ts';
export {
  checkpointKind,
  checkResumeKind,
  checkResumeLora,
  isRunOutput,
  newRunId,
  type OpenRunOptions,
  openRunFolder,
  RunFolderError,
  type TrainingKind,
} from './run-folder.ts';
