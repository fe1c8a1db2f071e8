// Run a Python file under MicroPython (the WebAssembly port) with a folder of modules
// importable as a package: node run.mjs PACKAGE_DIR SCRIPT.py
// Exit status 1 with the MicroPython traceback on stderr when the script raises.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript/micropython.mjs";
import fs from "fs";
import path from "path";

const [packageDir, script] = process.argv.slice(2);
const name = path.basename(packageDir);
let out = "";
const utf8 = new TextDecoder();
// Unbuffered output arrives as bytes.
const mp = await loadMicroPython({ stdout: (b) => { out += utf8.decode(b, { stream: true }); }, linebuffer: false });
mp.FS.mkdir("/lib");
mp.FS.mkdir("/lib/" + name);
for (const f of fs.readdirSync(packageDir)) {
  if (f.endsWith(".py")) mp.FS.writeFile(`/lib/${name}/${f}`, fs.readFileSync(path.join(packageDir, f)));
}
try {
  mp.runPython(fs.readFileSync(script, "utf8"));
} catch (e) {
  process.stdout.write(out);
  process.stderr.write(String(e) + "\n");
  process.exit(1);
}
process.stdout.write(out);
