// Preload (`node --require loopback.cjs ...`): forces every TCP listener of this process onto
// 127.0.0.1 and reports the port actually bound, so test servers that only read a port (and would
// otherwise listen on every interface) stay on loopback and can be started on port 0.
// Prints one line per listener to stderr (stdout may carry a stdio MCP stream):
//   loopback-preload listening 127.0.0.1:PORT
// Not here: Unix-socket or handle listeners (passed through untouched), any other patching.
'use strict';

const net = require('net');

const LOOPBACK = '127.0.0.1';
const originalListen = net.Server.prototype.listen;

function isPortValue(value) {
  return typeof value === 'number' || (typeof value === 'string' && /^\d+$/.test(value));
}

// Turns the listen() argument forms that name a TCP port into one options object;
// returns null for forms we leave alone (pipe path, handle, fd).
function tcpOptions(args) {
  const first = args[0];
  if (first === undefined || first === null) {
    return { port: 0 };
  }
  if (isPortValue(first)) {
    const options = { port: Number(first) };
    const backlog = args.slice(1).find((arg) => typeof arg === 'number');
    if (backlog !== undefined) {
      options.backlog = backlog;
    }
    return options;
  }
  if (typeof first === 'object' && first.path === undefined && first.fd === undefined &&
      first.handle === undefined && first._handle === undefined) {
    return { ...first, port: first.port === undefined ? 0 : Number(first.port) };
  }
  return null;
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const callback = typeof args[args.length - 1] === 'function' ? args.pop() : undefined;
  const options = tcpOptions(args);
  if (options === null) {
    return originalListen.apply(this, callback ? [...args, callback] : args);
  }
  options.host = LOOPBACK;
  delete options.ipv6Only;
  this.once('listening', () => {
    const address = this.address();
    const port = address && typeof address === 'object' ? address.port : address;
    process.stderr.write(`loopback-preload listening ${LOOPBACK}:${port}\n`);
  });
  return callback ? originalListen.call(this, options, callback) : originalListen.call(this, options);
};
