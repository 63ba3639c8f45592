/**
 * The conformance topics, in declaration order. Each topic is one file that declares its `it`
 * cases against `ctx.target()`; `runConformance` wraps every topic in its own `describe`.
 */
import type { Topic } from './types.js';
import { topic as stat } from './stat.js';
import { topic as readdir } from './readdir.js';
import { topic as mkdir } from './mkdir.js';
import { topic as rm } from './rm.js';
import { topic as rename } from './rename.js';
import { topic as readWrite } from './read-write.js';
import { topic as streams } from './streams.js';
import { topic as fileHandle } from './file-handle.js';
import { topic as recursiveReaddir } from './recursive-readdir.js';
import { topic as errors } from './errors.js';
import { topic as artifactStore } from './artifact-store.js';

export const TOPICS: Topic[] = [
  stat,
  readdir,
  mkdir,
  rm,
  rename,
  readWrite,
  streams,
  fileHandle,
  recursiveReaddir,
  errors,
  artifactStore,
];
