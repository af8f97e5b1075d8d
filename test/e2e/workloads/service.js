// A small real Node.js service, run as several replicas of one Deployment
// would be: an HTTP server with an in-memory catalogue built at start-up.
// Replicas hold much the same memory (the runtime, its heap, the catalogue),
// which is what merging within their partition finds.
//
//   node service.js PORT
import { createServer } from 'node:http';
import { argv, stdout } from 'node:process';

const port = Number(argv[2] ?? 8080);
const catalogue = new Map();
for (let i = 0; i < 50_000; i++) {
  catalogue.set(`item-${i}`, {
    id: i,
    name: `Item number ${i}`,
    price: (i * 37) % 1000,
    tags: ['a', 'b', 'c'],
  });
}
const index = JSON.stringify([...catalogue.values()].slice(0, 1000));

const server = createServer((req, res) => {
  const id = (req.url ?? '/').slice(1);
  const item = id === '' ? index : JSON.stringify(catalogue.get(id) ?? null);
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(item);
});
server.listen(port, '127.0.0.1', () => stdout.write(`ready ${process.pid} ${port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
