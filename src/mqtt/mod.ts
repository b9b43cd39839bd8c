/**
 * MQTT: the managed connection (persistent session, reconnects with backoff,
 * resubscribes, routes each message to one handler before its PUBACK) and
 * topic filter matching.
 * @module
 */
export { MqttConnection } from "./connection.ts";
export { type MessageHandler, NotNowError } from "./delivery.ts";
export type { MqttConnectionOptions, MqttSettings, RouteOptions } from "./options.ts";
export { compileFilter, plainTopic, topicMatches, unshared } from "./match.ts";
