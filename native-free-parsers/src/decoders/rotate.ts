import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

export interface RotateData {
  /** Position in the next file where reading continues (4, or a fake rotate's start). */
  position: number;
  nextFile: string;
}

registerDecoder(EventType.ROTATE, (body, ctx): RotateData => {
  // Very old servers had no post-header; the position then defaults to 4.
  const position = ctx.postHeaderLength >= 8 ? body.u64n() : 4;
  return { position, nextFile: body.restString() };
});
