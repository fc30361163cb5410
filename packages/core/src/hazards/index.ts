export * from './hazard.js';
export { LiveHazards, fencingReportBody, type FencingReport, type FencingVerdict, type HazardChange } from './live-hazards.js';
export { hygieneHazards, type HoldFacts, type LockHistory, type HygieneOptions } from './history-hazards.js';
