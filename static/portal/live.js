// The task page's live log, over the htmx ws extension (hx-ext="ws" ws-connect=...).
//
// Protocol (tasks_app/consumers.py): when the socket opens, the page sends
// {"after": <the largest data-event-id in #event-log>}; the server answers with the rows
// after it as out-of-band fragments (appended to #event-log, the #task-status badge
// replaced) and keeps sending new ones; it closes with 1000 when the task ends. The id is
// read from the page again on every reconnect, so a resume has no gap and no repeat.
(function () {
  "use strict";

  // Reconnect soon after a drop: within 0.5 s, then doubling up to 8 s, with jitter.
  htmx.config.wsReconnectDelay = function (retry) {
    var ms = Math.min(500 * Math.pow(2, retry), 8000);
    return ms / 2 + (Math.random() * ms) / 2;
  };

  function lastEventId() {
    var last = 0;
    document.querySelectorAll("#event-log [data-event-id]").forEach(function (row) {
      var id = parseInt(row.getAttribute("data-event-id"), 10);
      if (id > last) last = id;
    });
    return last;
  }

  function setState(state) {
    var badge = document.getElementById("live-state");
    if (badge) badge.setAttribute("data-state", state);
  }

  function logAtBottom() {
    var log = document.getElementById("event-log");
    return !log || log.scrollHeight - log.scrollTop - log.clientHeight < 24;
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    evt.detail.socketWrapper.send(JSON.stringify({ after: lastEventId() }));
    setState("live");
  });

  // keep following the log while the reader is at its end
  var follow = true;
  document.addEventListener("htmx:wsBeforeMessage", function () {
    follow = logAtBottom();
  });
  document.addEventListener("htmx:wsAfterMessage", function () {
    var log = document.getElementById("event-log");
    if (log && follow) log.scrollTop = log.scrollHeight;
  });

  document.addEventListener("htmx:wsClose", function (evt) {
    var code = evt.detail.event.code;
    if (code === 1000) {
      // the task ended: load the page again for its verdicts, coverage and report
      setState("ended");
      window.location.reload();
      return;
    }
    if (!document.body.contains(evt.target)) return;
    if ([1006, 1011, 1012, 1013].indexOf(code) >= 0) {
      setState("reconnecting"); // the extension retries these itself
    } else if (code === 1001) {
      // the server went away (a restart): worth retrying too
      setState("reconnecting");
      setTimeout(function () {
        evt.detail.socketWrapper.reconnect();
      }, htmx.config.wsReconnectDelay(0));
    } else {
      setState("closed"); // refused (not logged in, no such task): a reload will tell
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var log = document.getElementById("event-log");
    if (log) log.scrollTop = log.scrollHeight;
  });
})();
