// Row-image codecs: column types, values, JSON binary, the JSON and text forms of rows.
export * from './charsets.js';
export * from './columns.js';
export * from './decimal-codec.js';
export * from './format-text.js';
export * from './json-binary.js';
export * from './row-json.js';
export * from './temporal.js';
