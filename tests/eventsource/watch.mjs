// watch.mjs: one EventSource (the npm "eventsource" package, as a front end
// would use it) on a stageq event stream, left to reconnect as it likes.
//
//     node watch.mjs URL SECONDS
//
// Listens the way docs/api.md says (addEventListener for the named events
// "status" and "end"; onmessage too, which must see nothing), until the
// client gives up by itself (readyState CLOSED: the server answered 204 or an
// error) or SECONDS pass. Then prints one JSON line:
//   {"opens":N,"statuses":N,"ends":N,"messages":N,"errors":N,
//    "closed":true|false,"states":["running",...],"last_event_id":"..."}
// opens counts the connections that opened (200 text/event-stream): a client
// that loops on a finished job opens again and again.
import { EventSource } from 'eventsource';

const [url, seconds] = process.argv.slice(2);
if (!url || !seconds) {
  console.error('usage: node watch.mjs URL SECONDS');
  process.exit(2);
}
const out = { opens: 0, statuses: 0, ends: 0, messages: 0, errors: 0, closed: false,
              states: [], last_event_id: '' };
const es = new EventSource(url);
let done = false;

function finish() {
  if (done) return;
  done = true;
  out.closed = es.readyState === EventSource.CLOSED;
  es.close();
  console.log(JSON.stringify(out));
  process.exit(0);
}

es.addEventListener('open', () => { out.opens++; });
es.addEventListener('status', (ev) => {
  out.statuses++;
  out.last_event_id = ev.lastEventId;
  try {
    out.states.push(JSON.parse(ev.data).state);
  } catch (e) {
    out.states.push('unparsable');
  }
});
es.addEventListener('end', () => { out.ends++; });
es.onmessage = () => { out.messages++; };
es.addEventListener('error', () => {
  out.errors++;
  // CLOSED: the client will not reconnect (204, or an error status)
  if (es.readyState === EventSource.CLOSED) finish();
});
setTimeout(finish, Number(seconds) * 1000);
