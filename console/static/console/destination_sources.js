/* A destination's page: the "Sources" card (which of the organisation's integrations it publishes,
   chosen by checkbox; an admin saves with PATCH {"sources": [ids]}) and the preview's push words. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;
  var BASE = "/api/v1/integrations/";

  /** The connector's own `sources` field (its label and help), or a plain one. */
  function sourcesField(info) {
    var schema = (info && info.config_schema) || [];
    return schema.filter(function (field) { return field.key === "sources"; })[0] || { key: "sources", label: "Sources" };
  }

  /** "every source" or "2 sources": what the badge beside the card's title says. */
  function sourcesBadge(sources) {
    if (!sources || !sources.length) return "every source";
    return sources.length + (sources.length === 1 ? " source" : " sources");
  }

  /**
   * The card for `integration` (a destination, as GET /integrations/ lists it, with `sources`), its
   * choices among `integrations` (the organisation's, typed by `registry`). `onSaved(integration)` gets
   * the PATCH's answer.
   */
  function SourcesCard(options) {
    this.me = options.me;
    this.info = options.info;
    this.integrations = options.integrations;
    this.registry = options.registry;
    this.onSaved = options.onSaved;
    this.form = ui.$("#sources-form");
    this.admin = ui.roleAtLeast(this.me.role, "admin");
    ui.$("#sources-read-only").hidden = this.admin;
    this.render(options.integration);
    if (this.admin) this.form.addEventListener("submit", this.save.bind(this));
    else this.form.addEventListener("submit", function (event) { event.preventDefault(); });
    ui.$("#sources-card").hidden = false;
  }

  SourcesCard.prototype.render = function (integration) {
    this.integration = integration;
    var choices = T.sourceChoices(this.integrations, this.registry, integration.id);
    this.picker = new T.SourcesPicker(sourcesField(this.info), choices, integration.sources || [], { readOnly: !this.admin });
    ui.clear(ui.$("#sources-fields")).appendChild(this.picker.block);
    ui.$("#sources-badge").textContent = sourcesBadge(integration.sources);
  };

  SourcesCard.prototype.save = function (event) {
    event.preventDefault();
    var self = this;
    var button = ui.$("#save-sources");
    var errorBox = ui.$("#sources-error");
    errorBox.hidden = true;
    ui.$("#sources-saved").textContent = "";
    T.fieldErrors.clear(this.form);
    button.disabled = true;
    T.api("PATCH", BASE + this.integration.id, { sources: this.picker.checkedIds() }).then(function (integration) {
      self.render(integration);
      ui.$("#sources-saved").textContent = "Sources saved.";
      if (self.onSaved) self.onSaved(integration);
    }, function (error) { self.showRefusal(error); }).then(function () { button.disabled = false; });
  };

  /** The API names the choice "config.sources" (an id refused) or "sources" (the list itself): both go beside it. */
  SourcesCard.prototype.showRefusal = function (error) {
    var unplaced = [];
    if (error.code === "VALIDATION_ERROR") {
      var details = {};
      Object.keys(error.details || {}).forEach(function (key) {
        var target = key === "sources" ? "config.sources" : key;
        details[target] = [].concat(details[target] || [], [].concat(error.details[key]));
      });
      unplaced = T.fieldErrors.show(this.form, details);
    }
    if (error.code !== "VALIDATION_ERROR" || unplaced.length) {
      var alert = ui.errorAlert(error);
      unplaced.forEach(function (text) { alert.appendChild(ui.el("div", { text: text })); });
      var errorBox = ui.clear(ui.$("#sources-error"));
      errorBox.appendChild(alert);
      errorBox.hidden = false;
    }
  };

  /** The Preview card's words for a connector: a destination previews its next push, per source. */
  function previewWords(info) {
    var direction = info ? info.direction : "source";
    if (direction === "destination") {
      return { button: "Preview next push", intro: "Counts the entries the next push would send, per source, without sending anything." };
    }
    if (direction === "both") {
      return { button: "Preview next run", intro: "Estimates what the next run would move, without moving anything." };
    }
    return { button: "Preview next sync", intro: "Estimates what the next sync would import, without importing anything." };
  }

  /** A destination's preview: the summary, then each source with the entries it has due. */
  function renderPushPreview(box, preview) {
    box.appendChild(ui.el("p", { id: "preview-summary", text: preview.summary }));
    if (!preview.items.length) {
      box.appendChild(ui.el("p", { className: "small muted", text: "Nothing is due: every entry was sent already." }));
      return;
    }
    var tbody = ui.el("tbody");
    preview.items.forEach(function (item) {
      tbody.appendChild(ui.el("tr", {}, [
        ui.el("td", { className: "source-name", text: item.label }),
        ui.el("td", { className: "num", text: item.count === null ? "unknown" : String(item.count) }),
      ]));
    });
    box.appendChild(ui.el("table", { className: "data", id: "preview-sources" }, [
      ui.el("thead", {}, [ui.el("tr", {}, [ui.el("th", { text: "Source" }), ui.el("th", { className: "num", text: "Entries to send" })])]),
      tbody,
    ]));
  }

  T.destination = { SourcesCard: SourcesCard, previewWords: previewWords, renderPushPreview: renderPushPreview };
})();
