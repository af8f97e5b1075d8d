// Started by qemu for each connection the VM opens to its forwarded
// address (guestfwd ... -cmd:): copies stdin/stdout to and from one TCP
// port on the host's loopback, and nowhere else.
//
//   node relay.js PORT
import { connect } from 'node:net';
import { argv, exit, stdin, stdout } from 'node:process';

const port = Number(argv[2]);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  process.stderr.write('usage: relay.js PORT\n');
  exit(2);
}
const socket = connect({ host: '127.0.0.1', port });
stdin.pipe(socket);
socket.pipe(stdout);
socket.on('error', () => exit(1));
socket.on('close', () => exit(0));
stdin.on('end', () => socket.end());
