// A local stand-in for an OpenTelemetry collector's OTLP/HTTP receiver
// (JSON encoding): what Chat4All's processes post their spans to
// (otlp_endpoint, lib/trace.h).
//
//   node tests/fakes/otlp.mjs PORT
//
//   POST /v1/traces       an ExportTraceServiceRequest (application/json);
//                         a body that is not one is refused with 400, as a
//                         collector does
//   GET  /_spans?trace=ID every span received (of trace ID): [{service,
//                         traceId, spanId, parentSpanId, name, kind,
//                         startTimeUnixNano, endTimeUnixNano, attributes: {k: v}}]
//   GET  /_posts          how many exports came, were refused (not OTLP),
//                         were turned away (503) and spans came
//   POST /_away?ms=N      the collector is away for N ms: every export is
//                         answered 503, as an overloaded or restarting one does
import http from 'node:http';

const port = Number(process.argv[2]);
const KEEP = 200000;	// spans kept, the oldest dropped first
let spans = [];
let posts = 0, refused = 0, away = 0, received = 0;
let awayUntil = 0;

const hex = (s, n) => typeof s === 'string' && s.length === n && /^[0-9a-f]+$/.test(s);
const value = (v) => v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue;

// The spans of one request, flattened; throws when it is not OTLP's shape.
function read(req) {
  const out = [];
  for (const rs of req.resourceSpans) {
    const service = value(rs.resource.attributes.find((a) => a.key === 'service.name').value);
    for (const ss of rs.scopeSpans) {
      for (const s of ss.spans) {
        if (!hex(s.traceId, 32) || !hex(s.spanId, 16) || (s.parentSpanId && !hex(s.parentSpanId, 16))) throw new Error('bad ids');
        if (!s.name || !(BigInt(s.endTimeUnixNano) >= BigInt(s.startTimeUnixNano))) throw new Error('bad span');
        out.push({
          service, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId || '', name: s.name, kind: s.kind,
          startTimeUnixNano: s.startTimeUnixNano, endTimeUnixNano: s.endTimeUnixNano, status: s.status?.code,
          attributes: Object.fromEntries((s.attributes || []).map((a) => [a.key, value(a.value)])),
        });
      }
    }
  }
  return out;
}

http.createServer((req, res) => {
  let raw = '';
  req.on('data', (c) => { raw += c; });
  req.on('end', () => {
    const url = new URL(req.url, 'http://x');
    const answer = (status, body) => { res.writeHead(status, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); };
    if (req.method === 'POST' && url.pathname === '/v1/traces') {
      posts++;
      if (Date.now() < awayUntil) {
        away++;
        return answer(503, { code: 14, message: 'unavailable' });
      }
      try {
        if (!/^application\/json/.test(req.headers['content-type'] || '')) throw new Error('not JSON');
        const got = read(JSON.parse(raw));
        received += got.length;
        for (const sp of got) spans.push(sp);
        if (spans.length > KEEP) spans = spans.slice(spans.length - KEEP);
        return answer(200, { partialSuccess: {} });
      } catch (e) {
        refused++;
        return answer(400, { code: 3, message: String(e.message) });
      }
    }
    if (url.pathname === '/_spans') {
      const t = url.searchParams.get('trace');
      return answer(200, t ? spans.filter((s) => s.traceId === t) : spans);
    }
    if (url.pathname === '/_posts') return answer(200, { posts, refused, away, spans: received });
    if (req.method === 'POST' && url.pathname === '/_away') {
      awayUntil = Date.now() + Number(url.searchParams.get('ms'));
      return answer(200, {});
    }
    return answer(404, {});
  });
}).listen(port, '127.0.0.1');
