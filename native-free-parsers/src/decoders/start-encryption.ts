import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** MariaDB encrypt_binlog: everything after this event is encrypted (the parser refuses it). */
export interface StartEncryptionData {
  /** 1 = AES with the nonce + event position as IV. */
  scheme: number;
  keyVersion: number;
  /** 12-byte nonce, hex. */
  nonce: string;
}

registerDecoder(
  EventType.MARIADB_START_ENCRYPTION,
  (body): StartEncryptionData => ({
    scheme: body.u8(),
    keyVersion: body.u32(),
    nonce: body.bytes(12).toString('hex'),
  }),
);
