import { EventType } from '../event-types.js';
import { registerDecoder } from './registry.js';

/** The statement that produced the following rows events (ROWS_QUERY / MariaDB ANNOTATE_ROWS). */
export interface RowsQueryData {
  sql: string;
}

// MySQL: a length byte (statement length mod 256, ignored), then the text to the end.
registerDecoder(EventType.ROWS_QUERY, (body): RowsQueryData => {
  body.skip(1);
  return { sql: body.restString() };
});

// MariaDB: the whole body is the text.
registerDecoder(EventType.MARIADB_ANNOTATE_ROWS, (body): RowsQueryData => ({ sql: body.restString() }));
