/* An integration's page: health and live probe, preview, a destination's sources, sync now with live
   progress, schedule, history, delete. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;
  var BASE = "/api/v1/integrations/";

  function renderHeading(integration, info) {
    var label = info ? info.display_name : integration.type;
    var heading = ui.clear(ui.$("#heading"));
    heading.appendChild(ui.typeIcon(integration.type, label, true));
    heading.appendChild(ui.el("div", {}, [
      ui.el("h1", { id: "integration-name", text: integration.name }),
      ui.el("div", { className: "actions small muted" }, [
        ui.el("span", { text: label }),
        ui.el("span", { id: "integration-status" }, [ui.badge(integration.status)]),
        ui.el("span", {}, ["Last sync: ", ui.timeNode(integration.last_sync_at)]),
      ]),
    ]));
    document.title = integration.name + " · Tributary";
  }

  function renderHealth(health) {
    var box = ui.clear(ui.$("#health"));
    box.appendChild(ui.el("div", { className: "health-line" }, [
      ui.badge(health.healthy ? "healthy" : "unhealthy"),
      ui.el("span", { id: "health-message", text: health.message }),
    ]));
    box.appendChild(ui.el("p", { className: "small muted" }, ["Checked ", ui.timeNode(health.checked_at)]));
    ui.clear(ui.$("#integration-status")).appendChild(ui.badge(health.status));
  }

  function renderPreview(info, preview) {
    var box = ui.clear(ui.$("#preview"));
    if (info && info.direction === "destination") {
      T.destination.renderPushPreview(box, preview);
      return;
    }
    box.appendChild(ui.el("p", { id: "preview-summary", text: preview.summary }));
    if (preview.items.length) {
      var facts = ui.el("dl", { className: "facts" });
      preview.items.forEach(function (item) {
        facts.appendChild(ui.el("dt", { text: item.label }));
        facts.appendChild(ui.el("dd", { text: item.count === null ? "unknown" : String(item.count) }));
      });
      box.appendChild(facts);
    }
    if (preview.estimated_entries !== null) {
      var moved = info && info.direction === "both" ? " in all." : " would be imported.";
      box.appendChild(ui.el("p", { className: "small muted", text: "About " + preview.estimated_entries + " entries" + moved }));
    }
  }

  /** The Preview card's button and explanation, in the words of the connector's direction. */
  function renderPreviewCard(info) {
    var words = T.destination.previewWords(info);
    ui.$("#run-preview").textContent = words.button;
    ui.clear(ui.$("#preview")).appendChild(ui.el("p", { className: "muted", text: words.intro }));
  }

  function logList(job) {
    var lines = job.log || [];
    if (!lines.length) return ui.el("p", { className: "muted small", text: "Nothing was logged for this job." });
    var list = ui.el("ul", { className: "log" });
    lines.forEach(function (line) {
      list.appendChild(ui.el("li", {}, [
        ui.el("span", { className: "level level-" + line.level, text: line.level }),
        line.at ? ui.el("span", { className: "muted", text: ui.formatDateTime(line.at) }) : null,
        line.external_id ? ui.el("code", { text: line.external_id }) : null,
        ui.el("span", { text: line.message }),
      ]));
    });
    return list;
  }

  function toggleLog(integrationId, job, row, button) {
    var next = row.nextElementSibling;
    if (next && next.classList.contains("log-row")) {
      next.remove();
      button.textContent = "Log";
      return;
    }
    var cell = ui.el("td", { colspan: 6 }, [ui.el("span", { className: "muted", text: "Loading the log…" })]);
    row.after(ui.el("tr", { className: "log-row", dataset: { jobId: job.id } }, [cell]));
    button.textContent = "Hide log";
    T.api("GET", BASE + integrationId + "/history/" + job.id).then(function (detail) {
      ui.clear(cell);
      if (detail.error_message) cell.appendChild(ui.el("div", { className: "alert alert-error", text: detail.error_message }));
      cell.appendChild(logList(detail));
    }, function (error) { ui.clear(cell).appendChild(ui.errorAlert(error)); });
  }

  function historyRow(integrationId, job) {
    var row = ui.el("tr", { dataset: { jobId: job.id } });
    var button = ui.el("button", { type: "button", className: "btn btn-small", text: "Log" });
    button.addEventListener("click", function () { toggleLog(integrationId, job, row, button); });
    [
      ui.el("td", { dataset: { label: "Started" } }, [ui.timeNode(job.started_at || job.created_at)]),
      ui.el("td", { dataset: { label: "Status" } }, [ui.badge(job.status)]),
      ui.el("td", { dataset: { label: "Duration" }, text: ui.duration(job.started_at, job.completed_at) || "–" }),
      ui.el("td", { className: "run", dataset: { label: "Run" }, text: T.syncProgress.runLabel(job) }),
      ui.el("td", { className: "num", dataset: { label: "Figures" } }, [T.syncProgress.figuresList(job)]),
      ui.el("td", {}, [button]),
    ].forEach(function (cell) { row.appendChild(cell); });
    return row;
  }

  /** The schedule card: what it is, and for an admin a form that PATCHes it. */
  function renderSchedule(page) {
    var integration = page.integration;
    var destination = T.SourcesPicker.applies(page.info);
    ui.$("#schedule-summary").textContent = T.schedule.text(integration);
    ui.$("#schedule-explain").textContent = scheduleExplanation(integration, destination);
    var fields = ui.clear(ui.$("#schedule-fields"));
    page.schedule = new T.schedule.Fields(fields, { destination: destination, integration: integration });
  }

  function scheduleExplanation(integration, destination) {
    var parts = [];
    if (integration.sync_interval_minutes) parts.push("Runs every " + integration.sync_interval_minutes + " minutes.");
    if (integration.run_after_sources) parts.push("Runs after each successful sync of one of its sources.");
    if (!parts.length) {
      parts.push(destination ? "Runs only when started by hand." : "Syncs only when started by hand.");
    }
    return parts.join(" ");
  }

  function Page(me, integrationId) {
    this.me = me;
    this.id = integrationId;
    this.syncing = false;
  }

  /**
   * The history table, read again. A sync's status changes ask for it one after another, and their
   * answers may arrive out of order: only the latest asked is shown. A log the user opened stays open.
   */
  Page.prototype.loadHistory = function () {
    var self = this;
    var asked = (this.historyAsked = (this.historyAsked || 0) + 1);
    return T.api("GET", BASE + this.id + "/history").then(function (body) {
      if (asked !== self.historyAsked) return body.jobs;
      var tbody = ui.$("#history-table tbody");
      var open = Array.prototype.map.call(tbody.querySelectorAll("tr.log-row"), function (row) { return row.dataset.jobId; });
      ui.clear(tbody);
      body.jobs.forEach(function (job) {
        var row = tbody.appendChild(historyRow(self.id, job));
        if (open.indexOf(job.id) !== -1) row.querySelector("button").click();
      });
      ui.$("#history-table").hidden = !body.jobs.length;
      var empty = ui.clear(ui.$("#history-empty"));
      if (!body.jobs.length) {
        var hint = ui.roleAtLeast(self.me.role, "admin") ? "Press “Sync now” to run the first one." : "An admin can start the first one.";
        empty.appendChild(ui.emptyState("No syncs yet", hint));
      }
      empty.hidden = !!body.jobs.length;
      return body.jobs;
    });
  };

  Page.prototype.follow = function (jobId) {
    var self = this;
    var button = ui.$("#sync-now");
    this.syncing = true;
    button.disabled = true;
    button.textContent = "Syncing…";
    // The history row and the status badge follow the job as it goes from pending to running.
    var onStatusChange = function () { self.loadHistory(); self.refreshStatus(); };
    return T.syncProgress.watch(this.id, jobId, onStatusChange).then(function () {
      self.syncing = false;
      button.disabled = false;
      button.textContent = "Sync now";
    }, function (error) {
      self.syncing = false;
      button.disabled = false;
      button.textContent = "Sync now";
      ui.showError(ui.$("#page-error"), error);
    });
  };

  Page.prototype.refreshStatus = function () {
    var self = this;
    T.api("GET", BASE).then(function (body) {
      var integration = body.integrations.filter(function (item) { return item.id === self.id; })[0];
      if (integration) renderHeading(integration, self.info);
    });
  };

  Page.prototype.wire = function () {
    var self = this;
    var errorBox = ui.$("#page-error");
    ui.$("#check-connection").addEventListener("click", function (event) {
      var button = event.currentTarget;
      button.disabled = true;
      button.textContent = "Checking…";
      T.api("GET", BASE + self.id + "/connection-health").then(renderHealth, function (error) {
        ui.clear(ui.$("#health")).appendChild(ui.errorAlert(error));
      }).then(function () { button.disabled = false; button.textContent = "Check connection"; });
    });
    ui.$("#run-preview").addEventListener("click", function (event) {
      var button = event.currentTarget;
      button.disabled = true;
      ui.clear(ui.$("#preview")).appendChild(ui.el("p", { className: "muted", text: "Asking the connected system…" }));
      T.api("GET", BASE + self.id + "/preview").then(function (preview) { renderPreview(self.info, preview); }, function (error) {
        ui.clear(ui.$("#preview")).appendChild(ui.errorAlert(error));
      }).then(function () { button.disabled = false; });
    });
    ui.$("#sync-now").addEventListener("click", function () {
      if (self.syncing) return;
      errorBox.hidden = true;
      T.api("POST", BASE + self.id + "/sync").then(function (started) {
        self.loadHistory();
        self.follow(started.sync_job_id);
      }, function (error) { ui.showError(errorBox, error); });
    });
    ui.$("#schedule-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var form = event.currentTarget;
      var button = ui.$("#save-schedule");
      var scheduleError = ui.$("#schedule-error");
      scheduleError.hidden = true;
      ui.$("#schedule-saved").textContent = "";
      T.fieldErrors.clear(form);
      button.disabled = true;
      T.api("PATCH", BASE + self.id, self.schedule.values()).then(function (integration) {
        self.integration = integration;
        renderSchedule(self);
        ui.$("#schedule-saved").textContent = "Schedule saved.";
      }, function (error) {
        var unplaced = error.code === "VALIDATION_ERROR" ? T.fieldErrors.show(form, error.details) : [];
        if (error.code !== "VALIDATION_ERROR" || unplaced.length) {
          var alert = ui.errorAlert(error);
          unplaced.forEach(function (text) { alert.appendChild(ui.el("div", { text: text })); });
          ui.clear(scheduleError).appendChild(alert);
          scheduleError.hidden = false;
        }
      }).then(function () { button.disabled = false; });
    });
    var dialog = ui.$("#delete-dialog");
    ui.$("#delete-integration").addEventListener("click", function () {
      ui.$("#delete-dialog-text").textContent = "“" + self.integration.name + "”, its sync history and the entries it " +
        "imported will be deleted. This cannot be undone.";
      ui.$("#delete-error").hidden = true;
      dialog.showModal();
    });
    ui.$("#delete-cancel").addEventListener("click", function () { dialog.close(); });
    ui.$("#delete-confirm").addEventListener("click", function (event) {
      event.currentTarget.disabled = true;
      T.api("DELETE", BASE + self.id).then(function () {
        ui.flash.set("ok", "Deleted “" + self.integration.name + "”.");
        window.location.assign("/");
      }, function (error) {
        event.currentTarget.disabled = false;
        ui.showError(ui.$("#delete-error"), error);
      });
    });
  };

  Page.prototype.load = function () {
    var self = this;
    ui.$("#entries-link").href = "/knowledge?integration=" + encodeURIComponent(this.id);
    // /health first: it answers 404 for an integration that is not this organisation's.
    return Promise.all([T.api("GET", BASE + this.id + "/health"), T.api("GET", BASE), ui.connectors()])
      .then(function (results) {
        var integration = results[1].integrations.filter(function (item) { return item.id === self.id; })[0];
        if (!integration) throw new T.ApiError(404, { error: { code: "NOT_FOUND", message: "Integration not found." } });
        self.integration = integration;
        self.info = results[2].byType[integration.type];
        renderHeading(integration, self.info);
        renderHealth(results[0]);
        renderSchedule(self);
        renderPreviewCard(self.info);
        if (T.SourcesPicker.applies(self.info)) {
          self.sources = new T.destination.SourcesCard({
            me: self.me, info: self.info, registry: results[2], integration: integration,
            integrations: results[1].integrations,
            onSaved: function (saved) { self.integration = saved; },
          });
        }
        ui.$("#loading").hidden = true;
        ui.$("#detail").hidden = false;
        self.wire();
        return self.loadHistory();
      })
      .then(function (jobs) {
        var active = jobs.filter(function (job) { return job.status === "running" || job.status === "pending"; })[0];
        if (active) self.follow(active.id);
      })
      .catch(function (error) {
        ui.$("#loading").hidden = true;
        ui.showError(ui.$("#page-error"), error);
      });
  };

  ui.start(function (me, config) {
    new Page(me, config.integration_id).load();
  });
})();
