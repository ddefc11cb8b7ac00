export * from './binlog-file-writer.js';
export * from './binlog-statement.js';
export * from './event-writer.js';
