import { loadEngine } from '../../src/engine/reader.js';
const e = loadEngine(process.argv[2]!);
const g = e.graph;
for (const n of g.nodes) console.log(n.id, n.op, JSON.stringify(n.attrs), 'in', n.inputs.map(i => `${i}:${g.tensors[i]!.kind[0]}${g.tensors[i]!.name ?? ''}[${g.tensors[i]!.shape}]${g.tensors[i]!.dtype}`).join(' '), 'out', n.outputs.map(i => `${i}[${g.tensors[i]!.shape}]${g.tensors[i]!.dtype}`).join(' '));
console.log(JSON.stringify(e.config.plan).slice(0,300));
