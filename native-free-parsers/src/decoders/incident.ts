import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

export const IncidentType = { NONE: 0, LOST_EVENTS: 1 } as const;

export interface IncidentData {
  /** 1 = LOST_EVENTS (the source may have lost events: replicas stop here). */
  incident: number;
  incidentName: string;
  message: string;
}

const names: Record<number, string> = { 0: 'NONE', 1: 'LOST_EVENTS' };

registerDecoder(EventType.INCIDENT, (body, ctx): IncidentData => {
  const start = body.pos;
  const incident = body.u16();
  // Honour a longer post-header if a server ever advertises one.
  if (ctx.postHeaderLength > 2) body.skip(start + ctx.postHeaderLength - body.pos);
  const message = body.lstr8();
  return { incident, incidentName: names[incident] ?? `UNKNOWN_${incident}`, message };
});
