// Must NOT build: a browser bundle that imports a Node-only entry stops at build time.
import { requestNodeGpu } from '@llara/gpu/node';

requestNodeGpu();
