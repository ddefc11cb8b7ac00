export * from './binlog-file.js';
export * from './binlog-file-writer.js';
export * from './binlog-statement.js';
export * from './binlog-statements.js';
export * from './event-encoders.js';
export * from './event-writer.js';
