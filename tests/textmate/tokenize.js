// Tokenize KlingScript files with vscode-textmate + vscode-oniguruma (the
// engine VS Code uses) and print every token's text and scopes as JSON:
//
//   node tokenize.js GRAMMAR.json FILE.kls...
//   -> {"FILE.kls": [[{"text": "...", "scopes": ["source.klingscript", ...]}, ...], ...]}
//
// One inner list per line of the file. tests/test_textmate.py runs it.
"use strict";

const fs = require("fs");
const path = require("path");
const vsctm = require("vscode-textmate");
const oniguruma = require("vscode-oniguruma");

async function main() {
  const [grammarPath, ...files] = process.argv.slice(2);
  if (!grammarPath) {
    process.stderr.write("usage: node tokenize.js GRAMMAR.json FILE...\n");
    process.exit(2);
  }
  const wasm = fs.readFileSync(path.join(path.dirname(require.resolve("vscode-oniguruma")), "onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async () => vsctm.parseRawGrammar(fs.readFileSync(grammarPath, "utf8"), grammarPath),
  });
  const grammar = await registry.loadGrammar("source.klingscript");
  const out = {};
  for (const file of files) {
    let text = fs.readFileSync(file, "utf8");
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const lines = text.split(/\r?\n/);
    let rule = vsctm.INITIAL;
    const tokensOfFile = [];
    for (const line of lines) {
      const result = grammar.tokenizeLine(line, rule);
      tokensOfFile.push(result.tokens.map((t) => ({
        text: line.substring(t.startIndex, t.endIndex),
        scopes: t.scopes,
      })));
      rule = result.ruleStack;
    }
    out[file] = tokensOfFile;
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + "\n");
  process.exit(1);
});
