// A small LwM2M server on lwm2m-node-lib 1.4.0, a test peer written independently of our client.
//
//   node server.js [PORT]          (PORT 0 or absent: an ephemeral UDP port)
//
// Events go to stdout as JSON lines: listening, registration, update, unregistration, notify.
// Commands come on stdin as JSON lines, each answered by one JSON line with the same "id":
//   {"id":1,"op":"read","ep":"e","path":"/3/0/0"}
//   {"id":2,"op":"write","ep":"e","path":"/1/0/1","value":"45"}   (in 1541, the lib's default)
//   {"id":3,"op":"execute","ep":"e","path":"/1/0/8"}
//   {"id":4,"op":"attrs","ep":"e","path":"/3/0/13","attrs":{"pmin":1,"pmax":2}}
//   {"id":5,"op":"observe","ep":"e","path":"/3/0/13"}   then {"event":"notify",...} lines
//     (its answer comes with the first notification: coap 0.22 drops a 2.05 whose Observe is 0)
//   {"id":6,"op":"cancel","ep":"e","path":"/3/0/13"}    (the lib only forgets it: nothing is sent)
//   {"id":7,"op":"raw","ep":"e","method":"GET","path":"/3/0","accept":11542}
//   {"id":8,"op":"devices"}   {"id":9,"op":"quit"}
// Answers: {"id":N,"ok":true,...} or {"id":N,"ok":false,"error":NAME,"message":TEXT}.
'use strict';

var readline = require('readline');
var logger = require('logops');
var lwm2m = require('lwm2m-node-lib');
var coap = require('coap');
// the lib's own transport (the one its read/write use), for requests its API cannot express
var coapUtils = require('lwm2m-node-lib/lib/services/server/coapUtils');

// the lib's log lines would interleave with the JSON on stdout
logger.setStream(process.stderr);

// Formats the lib does not register: without them coap 0.22 cannot encode an Accept for TLV or
// decode a TLV/JSON answer's Content-Format
var FORMATS = {
    'application/vnd.oma.lwm2m+tlv-legacy': 1542,
    'application/vnd.oma.lwm2m+json-legacy': 1543,
    'application/vnd.oma.lwm2m+tlv': 11542,
    'application/vnd.oma.lwm2m+json': 11543
};
var FORMAT_BY_NUMBER = {};
Object.keys(FORMATS).forEach(function (name) {
    coap.registerFormat(name, FORMATS[name]);
});
// coap 0.22 names formats in both directions; 1541 is the lib's own registration
FORMATS['text/plain'] = 0;
FORMATS['application/link-format'] = 40;
FORMATS['application/octet-stream'] = 42;
FORMATS['lightweightm2m/text'] = 1541;
Object.keys(FORMATS).forEach(function (name) {
    FORMAT_BY_NUMBER[FORMATS[name]] = name;
});

var config = {
    port: parseInt(process.argv[2] || '0', 10),
    lifetimeCheckInterval: 1000,
    udpWindow: 100,
    ipProtocol: 'udp4',
    serverProtocol: 'udp4',
    deviceRegistry: {type: 'memory'},
    // without a type the lib answers every Register 4.04 TYPE_NOT_FOUND
    defaultType: 'Device',
    logLevel: process.env.NODELIB_LOG || 'FATAL'
};

function emit(obj) {
    process.stdout.write(JSON.stringify(obj) + '\n');
}

function errorOf(e) {
    var msg = (e && (e.message || e.code)) || String(e);
    // the lib's ClientError carries the CoAP code only inside its message text
    var code = /\b([245]\.\d\d)\b/.exec(msg);
    return {ok: false, error: (e && e.name) || 'Error', message: msg, code: code ? code[1] : null};
}

function parsePath(path) {
    var p = String(path || '').split('/').filter(function (s) { return s !== ''; });
    return {type: p[0], inst: p[1], res: p[2]};
}

// The registration payload as the lib hands it over: a link-format string it does not parse.
// Split it here the simplest way a server would, so tests see the object links as sent.
function links(payload) {
    if (!payload) {
        return [];
    }
    return payload.split(',').map(function (l) {
        var m = /^<([^>]*)>(.*)$/.exec(l.trim());
        return m ? {path: m[1], attrs: m[2]} : {raw: l};
    });
}

function withDevice(ep, cb) {
    lwm2m.server.getRegistry().getByName(ep, function (err, dev) {
        if (err) {
            cb(err);
        } else {
            cb(null, dev);
        }
    });
}

function rawRequest(dev, cmd, cb) {
    var request = {
        host: '127.0.0.1',
        port: config.port,
        method: cmd.method || 'GET',
        proxyUri: 'coap://' + dev.address + ':' + dev.port,
        pathname: cmd.path,
        options: {}
    };
    if (cmd.accept !== undefined) {
        request.options.Accept = FORMAT_BY_NUMBER[cmd.accept] || cmd.accept;
    }
    if (cmd.format !== undefined) {
        request.options['Content-Format'] = FORMAT_BY_NUMBER[cmd.format] || cmd.format;
    }
    if (cmd.hex !== undefined) {
        request.payload = Buffer.from(cmd.hex, 'hex');
    } else if (cmd.value !== undefined) {
        request.payload = String(cmd.value);
    }
    coapUtils.sendRequest(request, function (err, res) {
        if (err) {
            return cb(err);
        }
        var cf = null;
        res.options.forEach(function (o) {
            if (o.name === 'Content-Format') {
                cf = FORMATS[o.value] !== undefined ? FORMATS[o.value] : o.value;
            }
        });
        cb(null, {code: res.code, format: cf, hex: res.payload.toString('hex'),
            text: res.payload.toString('utf8')});
    });
}

function handle(cmd) {
    var id = cmd.id;
    var p = parsePath(cmd.path);

    function done(err, extra) {
        var out = err ? errorOf(err) : Object.assign({ok: true}, extra || {});
        out.id = id;
        emit(out);
    }

    if (cmd.op === 'quit') {
        lwm2m.server.stop(server, function () {
            done(null);
            process.exit(0);
        });
        return;
    }
    if (cmd.op === 'devices') {
        lwm2m.server.listDevices(function (err, list) {
            done(err, {devices: list && list.map(function (d) {
                return {id: d.id, name: d.name, lifetime: d.lifetime, path: d.path, port: d.port};
            })});
        });
        return;
    }
    withDevice(cmd.ep, function (err, dev) {
        if (err) {
            return done(err);
        }
        switch (cmd.op) {
        case 'read':
            lwm2m.server.read(dev.id, p.type, p.inst, p.res, function (e, v) {
                done(e, {value: v});
            });
            break;
        case 'write':
            lwm2m.server.write(dev.id, p.type, p.inst, p.res, String(cmd.value), function (e) {
                done(e);
            });
            break;
        case 'execute':
            lwm2m.server.execute(dev.id, p.type, p.inst, p.res, cmd.value, function (e) {
                done(e);
            });
            break;
        case 'attrs':
            lwm2m.server.writeAttributes(dev.id, p.type, p.inst, p.res, cmd.attrs || {},
                function (e) {
                    done(e);
                });
            break;
        case 'observe':
            lwm2m.server.observe(dev.id, p.type, p.inst, p.res, function (value, t, i, r) {
                emit({event: 'notify', ep: cmd.ep, path: '/' + t + '/' + i + '/' + r, value: value,
                    t: Date.now() / 1000});
            }, function (e, first) {
                done(e, {value: first});
            });
            break;
        case 'cancel':
            lwm2m.server.cancelObserver(dev.id, p.type, p.inst, p.res, function (e) {
                done(e);
            });
            break;
        case 'raw':
            rawRequest(dev, cmd, done);
            break;
        default:
            done({name: 'UnknownCommand', message: String(cmd.op)});
        }
    });
}

var server = null;

lwm2m.server.start(config, function (err, info) {
    if (err) {
        emit({event: 'error', error: errorOf(err)});
        process.exit(1);
    }
    server = info;
    // port 0: the lib sends its requests through its own socket (as a proxy), so it must know it
    config.port = info.server._sock.address().port;
    lwm2m.server.setHandler(info, 'registration', function (ep, lt, version, binding, payload, cb) {
        emit({event: 'registration', ep: ep, lt: lt, lwm2m: version, b: binding, payload: payload,
            links: links(payload), t: Date.now() / 1000});
        cb();
    });
    lwm2m.server.setHandler(info, 'updateRegistration', function (obj, payload, cb) {
        emit({event: 'update', ep: obj.name, id: obj.id, lifetime: obj.lifetime, payload: payload,
            t: Date.now() / 1000});
        cb();
    });
    lwm2m.server.setHandler(info, 'unregistration', function (dev, cb) {
        emit({event: 'unregistration', ep: dev.name, id: dev.id, t: Date.now() / 1000});
        cb();
    });
    emit({event: 'listening', port: config.port});

    var rl = readline.createInterface({input: process.stdin});
    rl.on('line', function (line) {
        if (!line.trim()) {
            return;
        }
        var cmd;
        try {
            cmd = JSON.parse(line);
        } catch (e) {
            return emit({ok: false, error: 'BadJSON', message: e.message});
        }
        try {
            handle(cmd);
        } catch (e) {
            emit(Object.assign(errorOf(e), {id: cmd.id}));
        }
    });
    rl.on('close', function () {
        process.exit(0);
    });
});
