/* An integration's schedule: run every N minutes (empty: manual only) and, for a destination, after
   each successful sync of one of its sources. The API's fields are `sync_interval_minutes` and
   `run_after_sources`, beside Knora's; the field blocks are keyed by them, so errors land beside them. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;

  /** "every 60 min", "after sources", both, or "manual". */
  function scheduleText(integration) {
    var parts = [];
    if (integration.sync_interval_minutes) parts.push("every " + integration.sync_interval_minutes + " min");
    if (integration.run_after_sources) parts.push("after sources");
    return parts.length ? parts.join(" · ") : "manual";
  }

  /** Appends the schedule's fields to `container`; `destination` adds "run after sources". */
  function ScheduleFields(container, options) {
    this.destination = !!options.destination;
    var current = options.integration || {};
    var interval = ui.el("input", {
      type: "number", id: "sync_interval_minutes", name: "sync_interval_minutes", min: 1, step: 1,
      inputmode: "numeric", placeholder: "Manual only", autocomplete: "off",
    });
    if (current.sync_interval_minutes) interval.value = String(current.sync_interval_minutes);
    this.interval = interval;
    container.appendChild(T.fieldBlock("sync_interval_minutes", "Run every N minutes", interval, {
      required: false,
      help_text: "Minutes between scheduled runs. Leave empty to run only when someone presses “Sync now”.",
    }));
    if (this.destination) {
      var after = ui.el("input", {
        type: "checkbox", id: "run_after_sources", name: "run_after_sources", checked: !!current.run_after_sources,
      });
      this.after = after;
      container.appendChild(T.fieldBlock("run_after_sources", "", after, {
        type: "boolean",
        label: "Run after each successful sync of a source",
        help_text: "When one of its sources finishes a sync, this destination publishes what changed.",
      }));
    }
  }

  /** The API's fields: an empty interval is null (manual); anything typed goes as a number for the API to judge. */
  ScheduleFields.prototype.values = function () {
    var typed = this.interval.value.trim();
    var values = { sync_interval_minutes: typed === "" ? null : Number(typed) };
    if (this.destination) values.run_after_sources = this.after.checked;
    return values;
  };

  T.schedule = { text: scheduleText, Fields: ScheduleFields };
})();
