import { readFileSync } from 'node:fs';
const line = readFileSync('/tmp/audit-scratch/v.jsonl', 'utf8').split('\n')[5];
const e = JSON.parse(line);
console.log(line.includes('\\u'), JSON.stringify(e) === line);
const N=100000; let t=performance.now();
for (let i=0;i<N;i++){ const v=JSON.parse(line); JSON.stringify(v)===line; }
console.log('parse+stringify', (performance.now()-t)*1000/N);
