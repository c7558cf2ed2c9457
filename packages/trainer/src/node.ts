export {
  type CheckpointContent,
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
export { lossCurve, type PretrainRunOptions, readPretrainData, runPretrain } from './pretrain-node.ts';
