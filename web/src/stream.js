// GET /v1/stream read with fetch (EventSource cannot send the Authorization header), parsed as
// Server-Sent Events, reconnected with Last-Event-ID so no item is lost across a dropped connection.

import { authHeaders } from './api.js';

/** Split a text stream into events; keeps the unfinished tail. */
export function parseEvents(buffer) {
  const events = [];
  let end;
  while ((end = buffer.indexOf('\n\n')) >= 0) {
    const block = buffer.slice(0, end);
    buffer = buffer.slice(end + 2);
    const ev = { id: null, event: 'message', data: [] };
    for (const line of block.split('\n')) {
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'id') ev.id = value;
      else if (field === 'event') ev.event = value;
      else if (field === 'data') ev.data.push(value);
    }
    if (ev.data.length) events.push({ ...ev, data: JSON.parse(ev.data.join('\n')) });
  }
  return { events, rest: buffer };
}

/**
 * Follow the stream until stop() is called. `onEvent({id, event, data})` gets every event;
 * `onStatus(live, why)` tells whether it is connected.
 */
export function follow({ onEvent, onStatus, onUnauthorized }) {
  let lastId = null;
  let stopped = false;
  let controller = null;
  let delay = 500;

  async function once() {
    controller = new AbortController();
    const headers = { ...authHeaders(), Accept: 'text/event-stream' };
    if (lastId) headers['Last-Event-ID'] = lastId;
    const res = await fetch('/v1/stream', { headers, signal: controller.signal });
    if (res.status === 401) {
      onUnauthorized();
      throw new Error('not logged in');
    }
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    onStatus(true);
    delay = 500;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the controller closed the stream');
      buffer += decoder.decode(value, { stream: true });
      const parsed = parseEvents(buffer);
      buffer = parsed.rest;
      for (const ev of parsed.events) {
        if (ev.id) lastId = ev.id;
        onEvent(ev);
      }
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (e) {
        if (stopped) return;
        onStatus(false, e.message);
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 5000);
    }
  })();

  return {
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
    /** Forget the position: the next connection starts afresh (after logging in again). */
    reset() {
      lastId = null;
      if (controller) controller.abort();
    },
  };
}
