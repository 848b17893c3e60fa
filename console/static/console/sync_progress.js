/* A sync job's live progress: polls GET /<id>/history/<job_id> and draws the bar and the counters. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;
  var POLL_MS = 600;
  var COUNTERS = [
    ["records_found", "Found"], ["records_synced", "Fetched"], ["records_imported", "Imported"],
    ["records_skipped", "Skipped"], ["records_failed", "Failed"], ["entries_created", "Created"],
    ["entries_deleted", "Deleted"],
  ];

  function figures(job) {
    var progress = job.progress || {};
    var out = {};
    COUNTERS.forEach(function (pair) {
      var key = pair[0];
      var value = job[key] !== null && job[key] !== undefined ? job[key] : progress[key];
      out[key] = value === undefined ? null : value;
    });
    return out;
  }

  function summary(job, numbers, percent) {
    if (job.status === "pending") return "Waiting for a worker…";
    if (job.status === "failed") return job.error_message || "The sync failed.";
    var fetched = numbers.records_synced || 0;
    var of = numbers.records_found !== null ? " of " + numbers.records_found : "";
    var text = "Fetched " + fetched + of + (fetched === 1 && !of ? " record" : " records");
    if (job.status === "completed") return "Completed: " + text.charAt(0).toLowerCase() + text.slice(1) + ".";
    return text + (percent !== null ? " (" + percent + "%)" : "") + "…";
  }

  /** Draws `job` into the sync card. */
  function render(job) {
    var card = ui.$("#sync-card");
    card.hidden = false;
    card.dataset.jobId = job.id;
    card.dataset.status = job.status;
    ui.clear(ui.$("#sync-status")).appendChild(ui.badge(job.status));
    var numbers = figures(job);
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
    message.textContent = summary(job, numbers, percent);
    message.className = job.status === "failed" ? "alert alert-error" : "muted";
    var counters = ui.clear(ui.$("#sync-counters"));
    COUNTERS.forEach(function (pair) {
      var value = numbers[pair[0]];
      counters.appendChild(ui.el("div", { className: "counter", dataset: { counter: pair[0] } }, [
        ui.el("span", { className: "value", text: value === null ? "–" : value }),
        ui.el("span", { className: "label", text: pair[1] }),
      ]));
    });
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

  T.syncProgress = { render: render, watch: watch };
})();
