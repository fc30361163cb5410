export * from './errors.js';
export * from './lock-identity.js';
export * from './observation.js';
export * from './events.js';
export * from './config.js';
export * from './config-file.js';
