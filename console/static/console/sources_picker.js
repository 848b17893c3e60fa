/* A destination's `sources`: a choice among the organisation's source integrations, never typed ids. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;

  function pushes(info) { return !!info && (info.direction === "destination" || info.direction === "both"); }

  function pulls(info) { return !!info && (info.direction === "source" || info.direction === "both"); }

  /**
   * The integrations a destination may publish: the organisation's sources (by their connector's
   * direction), never the destination itself. Each as {id, name, typeLabel}.
   */
  function sourceChoices(integrations, registry, excludingId) {
    return integrations
      .filter(function (item) { return item.id !== excludingId && pulls(registry.byType[item.type]); })
      .map(function (item) {
        var info = registry.byType[item.type];
        return { id: item.id, name: item.name, type: item.type, typeLabel: info ? info.display_name : item.type };
      });
  }

  /**
   * One checkbox per choice; none checked means every source (the page says so). `selectedIds` that
   * are not among the choices (a deleted source) are simply not shown, and not written back.
   * `options.readOnly` shows the choice with disabled boxes (a member may look, not change).
   */
  function SourcesPicker(field, choices, selectedIds, options) {
    var readOnly = !!(options && options.readOnly);
    var selected = {};
    (selectedIds || []).forEach(function (id) { selected[String(id).toLowerCase()] = true; });
    this.choices = choices;
    this.group = ui.el("fieldset", { className: "choices", id: "config-sources" }, [
      ui.el("legend", { text: field.label || "Sources" }),
    ]);
    var self = this;
    choices.forEach(function (choice) {
      var box = ui.el("input", {
        type: "checkbox", name: "sources", value: choice.id, id: "source-" + choice.id,
        checked: !!selected[choice.id.toLowerCase()], disabled: readOnly, dataset: { integrationId: choice.id },
      });
      box.addEventListener("change", function () { self.describe(); });
      self.group.appendChild(ui.el("label", { className: "checkbox choice", for: box.id }, [
        box,
        ui.el("span", { className: "choice-name", text: choice.name }),
        ui.el("span", { className: "badge badge-plain", text: choice.typeLabel }),
      ]));
    });
    this.summary = ui.el("div", { className: "help", id: "sources-summary", "aria-live": "polite" });
    this.block = ui.el("div", { className: "field", id: "field-config-sources", dataset: { key: "config.sources" } }, [
      this.group, this.summary,
    ]);
    this.describe();
  }

  SourcesPicker.applies = pushes;

  SourcesPicker.prototype.checkedIds = function () {
    return Array.prototype.map.call(this.group.querySelectorAll("input:checked"), function (box) { return box.value; });
  };

  /** The config's `sources` text: the chosen ids, comma-separated; "" for every source. */
  SourcesPicker.prototype.value = function () { return this.checkedIds().join(","); };

  SourcesPicker.prototype.describe = function () {
    var chosen = this.checkedIds().length;
    var text;
    if (!this.choices.length) {
      text = "The organisation has no sources yet: this destination will publish every source added later.";
    } else if (!chosen) {
      text = "None chosen: every source of the organisation is published, also those added later.";
    } else {
      text = "Publishes " + chosen + " of " + this.choices.length + (this.choices.length === 1 ? " source." : " sources.");
    }
    this.summary.textContent = text;
  };

  T.SourcesPicker = SourcesPicker;
  T.sourceChoices = sourceChoices;
})();
