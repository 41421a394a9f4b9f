// A parser for text/event-stream read from fetch() (EventSource cannot POST).

/** Feed decoded text chunks; get back complete {event, data} messages. */
export class EventStreamParser {
  constructor() {
    this.buffer = "";
    this.event = "";
    this.data = [];
  }

  /** Parse `chunk` (any split, CRLF or LF); returns the events it completed. */
  push(chunk) {
    this.buffer += chunk;
    const out = [];
    let newline;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      // a lone "\r" at the very end may be the first half of "\r\n": wait for more
      if (this.buffer[newline] === "\r" && newline === this.buffer.length - 1) break;
      const line = this.buffer.slice(0, newline);
      const skip = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      this.buffer = this.buffer.slice(newline + skip);
      const message = this.line(line);
      if (message) out.push(message);
    }
    return out;
  }

  /** The event still pending when the stream ends without a blank line, if any. */
  end() {
    const message = this.buffer ? this.line(this.buffer) : null;
    this.buffer = "";
    return message || this.line("");
  }

  line(line) {
    if (line === "") {
      if (!this.data.length) {
        this.event = "";
        return null;
      }
      const message = { event: this.event || "message", data: this.data.join("\n") };
      this.event = "";
      this.data = [];
      return message;
    }
    if (line.startsWith(":")) return null; // comment / keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
    return null;
  }
}

/** Async iterator of {event, data} over a fetch Response body. */
export async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  const parser = new EventStreamParser();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      for (const message of parser.push(decoder.decode(value, { stream: true }))) yield message;
    }
    const tail = parser.push(decoder.decode());
    for (const message of tail) yield message;
    const last = parser.end();
    if (last) yield last;
  } finally {
    reader.releaseLock();
  }
}
