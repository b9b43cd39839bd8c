import assert from "node:assert/strict";
import { CONFIG_SCHEMA_ID, configJsonSchema } from "../../src/config/mod.ts";

type Schema = Record<string, unknown> & { properties?: Record<string, Schema> };

const schema = configJsonSchema() as Schema;
const at = (...keys: string[]): Schema =>
  keys.reduce((node, key) => node.properties![key]!, schema);

Deno.test("the JSON Schema has an $id, a title and forbids unknown keys", () => {
  assert.equal(schema.$id, CONFIG_SCHEMA_ID);
  assert.equal(schema.title, "mandrill config");
  assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
  assert.equal(schema.additionalProperties, false);
  assert.equal(at("policy").additionalProperties, false);
});

Deno.test("the JSON Schema describes the input: defaults and descriptions included", () => {
  const maxUnavailable = at("policy", "maxUnavailable");
  assert.equal(maxUnavailable.default, 4);
  assert.equal(maxUnavailable.type, "integer");
  assert.equal(maxUnavailable.minimum, 1);
  assert.equal(typeof maxUnavailable.description, "string");
  assert.deepEqual(at("log", "format").enum, ["json", "pretty"]);
  assert.equal(schema.required, undefined, "{} is a valid config");
});

Deno.test("every field of the JSON Schema has a description", () => {
  const undocumented: string[] = [];
  const visit = (node: Schema, path: string) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      if (key !== "type" && typeof child.description !== "string") {
        undocumented.push(`${path}.${key}`);
      }
      visit(child, `${path}.${key}`);
    }
    for (const key of ["additionalProperties", "items"] as const) {
      const child = node[key];
      if (typeof child === "object" && child !== null) visit(child as Schema, `${path}[]`);
    }
    for (const option of (node.oneOf ?? node.anyOf ?? []) as Schema[]) visit(option, path);
  };
  visit(schema, "");
  assert.deepEqual(undocumented, []);
});

Deno.test("host names in the JSON Schema carry the RFC 1123 pattern", () => {
  const names = at("hosts").propertyNames as { pattern: string; maxLength: number };
  const pattern = new RegExp(names.pattern);
  assert.equal(names.maxLength, 253);
  assert.ok(pattern.test("web-1.example.com"));
  assert.ok(!pattern.test("web_1"));
  assert.ok(!pattern.test("-web"));
});
