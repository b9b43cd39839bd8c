// deno-lint-ignore-file no-console
/**
 * Counts the top-level tests of a Deno JUnit report: "passed failed skipped"
 * (Deno writes each t.step as a test case named "parent > step": not counted).
 */
const xml = await Deno.readTextFile(Deno.args[0]!);
let passed = 0;
let failed = 0;
let skipped = 0;
for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const name = /\bname="([^"]*)"/.exec(m[1]!)?.[1] ?? "";
  if (name.includes(" &gt; ") || name.includes(" > ")) continue;
  const body = m[3] ?? "";
  if (/<(failure|error)\b/.test(body)) failed++;
  else if (/<skipped\b/.test(body)) skipped++;
  else passed++;
}
console.log(passed, failed, skipped);
