export * from './ini.js';
export * from './load-config.js';
export * from './parameters.js';
export * from './redact.js';
export * from './ssh-options.js';
