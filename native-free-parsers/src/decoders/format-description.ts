import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

export interface FormatDescriptionData {
  binlogVersion: number;
  serverVersion: string;
  createTimestamp: number;
  commonHeaderLength: number;
  checksumAlgorithm: 'none' | 'crc32' | 'undef' | 'absent';
  postHeaderLengths: number[];
}

registerDecoder(EventType.FORMAT_DESCRIPTION, (_body, ctx): FormatDescriptionData => {
  const fd = ctx.fd;
  const alg = fd.checksumAlgorithm;
  return {
    binlogVersion: fd.binlogVersion,
    serverVersion: fd.serverVersion,
    createTimestamp: fd.createTimestamp,
    commonHeaderLength: fd.commonHeaderLength,
    checksumAlgorithm: alg === null ? 'absent' : alg === 0 ? 'none' : alg === 1 ? 'crc32' : 'undef',
    postHeaderLengths: Array.from(fd.rawPostHeaderLengths),
  };
});
