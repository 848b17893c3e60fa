/* A sync job's live progress: polls GET /<id>/history/<job_id> and draws the bar and the counters.

   A run may pull, push, or both. The job's counters have Knora's names for each direction; for a push
   they mean: found = offered (due), synced = sent, imported = accepted by the destination, skipped =
   unchanged (not offered), entries_created = created remotely, failed = refused. `progress.direction`
   is the direction running (or the last one run) and `progress.directions` has each one's figures. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;
  var POLL_MS = 600;
  var WORDS = {
    pull: [
      ["records_found", "Found"], ["records_synced", "Fetched"], ["records_imported", "Imported"],
      ["records_skipped", "Skipped"], ["records_failed", "Failed"], ["entries_created", "Created"],
      ["entries_deleted", "Deleted"],
    ],
    push: [
      ["records_found", "Offered"], ["records_synced", "Sent"], ["records_imported", "Accepted"],
      ["records_skipped", "Unchanged"], ["entries_created", "Created remotely"], ["records_failed", "Failed"],
    ],
  };
  var DIRECTION_TITLES = { pull: "Pull", push: "Push" };

  function pick(source, fallback) {
    var out = {};
    WORDS.pull.forEach(function (pair) {
      var key = pair[0];
      var value = source[key] !== null && source[key] !== undefined ? source[key] : fallback ? fallback[key] : undefined;
      out[key] = value === undefined ? null : value;
    });
    return out;
  }

  /**
   * The run's directions in the order they ran, each with its figures. A job that only pulled has no
   * `directions`: its figures are Knora's fields (and the live ones in `progress` while it runs).
   */
  function parts(job) {
    var progress = job.progress || {};
    var directions = progress.directions;
    if (!directions || !Object.keys(directions).length) {
      return [{ direction: progress.direction || "pull", numbers: pick(job, progress) }];
    }
    // The running (or last) direction goes last: the stored object's key order is not the run's.
    var names = Object.keys(directions).filter(function (name) { return name !== progress.direction; });
    if (directions[progress.direction]) names.push(progress.direction);
    return names.map(function (name) { return { direction: name, numbers: pick(directions[name]) }; });
  }

  function words(direction) { return WORDS[direction] || WORDS.pull; }

  /** "Fetched 4 of 10 records" for a pull, "Sent 2 of 3 entries" for a push. */
  function partText(part) {
    var numbers = part.numbers;
    var done = numbers.records_synced || 0;
    var of = numbers.records_found !== null ? " of " + numbers.records_found : "";
    // The noun agrees with the last number said: "1 of 1 entry", "1 of 3 entries".
    var single = (numbers.records_found !== null ? numbers.records_found : done) === 1;
    if (part.direction === "push") return "Sent " + done + of + (single ? " entry" : " entries");
    return "Fetched " + done + of + (single ? " record" : " records");
  }

  function lowerFirst(text) { return text.charAt(0).toLowerCase() + text.slice(1); }

  function summary(job, runParts, percent) {
    if (job.status === "pending") return "Waiting for a worker…";
    if (job.status === "failed") return job.error_message || "The sync failed.";
    if (job.status === "completed") return "Completed: " + runParts.map(function (part) { return lowerFirst(partText(part)); }).join(", then ") + ".";
    var current = partText(runParts[runParts.length - 1]);
    return current + (percent !== null ? " (" + percent + "%)" : "") + "…";
  }

  /** One direction's counters, with its name when the run has more than one. */
  function counterGroup(part, titled) {
    var grid = ui.el("div", { className: "counters" });
    words(part.direction).forEach(function (pair) {
      var value = part.numbers[pair[0]];
      grid.appendChild(ui.el("div", { className: "counter", dataset: { counter: pair[0] } }, [
        ui.el("span", { className: "value", text: value === null ? "–" : value }),
        ui.el("span", { className: "label", text: pair[1] }),
      ]));
    });
    return ui.el("div", { className: "counter-group", dataset: { direction: part.direction } }, [
      titled ? ui.el("h3", { text: DIRECTION_TITLES[part.direction] || part.direction }) : null,
      grid,
    ]);
  }

  /** "Pull", "Push", or "Pull, then push": what a run did. */
  function runLabel(job) {
    return parts(job).map(function (part, index) {
      var title = DIRECTION_TITLES[part.direction] || part.direction;
      return index ? title.toLowerCase() : title;
    }).join(", then ");
  }

  /** A history row's figures in the run's own words: "sent 3 · accepted 2 · …" per direction. */
  function figuresList(job) {
    var runParts = parts(job);
    var list = ui.el("ul", { className: "figures" });
    runParts.forEach(function (part) {
      var item = ui.el("li", { dataset: { direction: part.direction } });
      if (runParts.length > 1) item.appendChild(ui.el("strong", { text: (DIRECTION_TITLES[part.direction] || part.direction) + ": " }));
      var shown = words(part.direction).filter(function (pair) {
        return pair[0] !== "records_found" && part.numbers[pair[0]] !== null;
      });
      shown.forEach(function (pair, index) {
        if (index) item.appendChild(document.createTextNode(" · "));
        item.appendChild(ui.el("span", { dataset: { counter: pair[0] }, text: lowerFirst(pair[1]) + " " + part.numbers[pair[0]] }));
      });
      if (!shown.length) item.appendChild(document.createTextNode("–"));
      list.appendChild(item);
    });
    return list;
  }

  /** Draws `job` into the sync card. */
  function render(job) {
    var card = ui.$("#sync-card");
    card.hidden = false;
    card.dataset.jobId = job.id;
    card.dataset.status = job.status;
    ui.clear(ui.$("#sync-status")).appendChild(ui.badge(job.status));
    var runParts = parts(job);
    var progress = job.progress || {};
    var percent = job.status === "completed" ? 100 : (typeof progress.percent === "number" ? progress.percent : null);
    var bar = ui.$("#sync-progress");
    bar.classList.toggle("indeterminate", percent === null && (job.status === "running" || job.status === "pending"));
    bar.classList.toggle("done", job.status === "completed");
    bar.classList.toggle("failed", job.status === "failed");
    ui.$("#sync-progress-bar").style.width = (percent === null ? 0 : percent) + "%";
    if (percent === null) bar.removeAttribute("aria-valuenow");
    else bar.setAttribute("aria-valuenow", String(percent));
    var message = ui.$("#sync-message");
    message.textContent = summary(job, runParts, percent);
    message.className = job.status === "failed" ? "alert alert-error" : "muted";
    var counters = ui.clear(ui.$("#sync-counters"));
    runParts.forEach(function (part) { counters.appendChild(counterGroup(part, runParts.length > 1)); });
  }

  /** Polls the job until it completes or fails; resolves with the final job. */
  function watch(integrationId, jobId, onStatusChange) {
    var path = "/api/v1/integrations/" + integrationId + "/history/" + jobId;
    var lastStatus = null;
    return new Promise(function (resolve, reject) {
      function poll() {
        T.api("GET", path).then(function (job) {
          render(job);
          if (job.status !== lastStatus && onStatusChange) onStatusChange(job);
          lastStatus = job.status;
          if (job.status === "completed" || job.status === "failed") resolve(job);
          else window.setTimeout(poll, POLL_MS);
        }, reject);
      }
      poll();
    });
  }

  T.syncProgress = { render: render, watch: watch, runLabel: runLabel, figuresList: figuresList };
})();
