/**
 * The operator's view: the status model (`/api/status`), its live feed
 * (`/api/events`) and the page that shows both (`/`).
 * @module
 */
export * from "./model.ts";
export * from "./feed.ts";
export { STATUS_PAGE } from "./page/mod.ts";
export * from "./labels.ts";
export * from "./text.ts";
