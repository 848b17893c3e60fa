/* A setup form rendered from a connector's config_schema, with the API's field errors beside the fields. */
(function () {
  "use strict";

  var T = window.Tributary;
  var ui = T.ui;

  function labelFor(id, text, required) {
    return ui.el("label", { for: id }, [text, required ? ui.el("span", { className: "required-mark", title: "Required", text: "*" }) : null]);
  }

  function help(text) { return text ? ui.el("div", { className: "help", text: text }) : null; }

  function input(field, id) {
    var type = field.type;
    if (type === "select") {
      var select = ui.el("select", { id: id, name: field.key, required: field.required });
      if (!field.required || field.default === null || field.default === undefined) {
        select.appendChild(ui.el("option", { value: "", text: field.placeholder || "Choose…" }));
      }
      (field.options || []).forEach(function (option, index) {
        var label = option.label !== undefined ? option.label : String(option.value);
        select.appendChild(ui.el("option", { value: String(index), text: label, selected: option.value === field.default }));
      });
      return select;
    }
    if (type === "boolean") {
      return ui.el("input", { type: "checkbox", id: id, name: field.key, checked: field.default === true });
    }
    var attrs = {
      type: type === "password" ? "password" : type === "number" ? "number" : "text",
      id: id, name: field.key, placeholder: field.placeholder || null, required: field.required,
      autocomplete: type === "password" ? "new-password" : "off",
    };
    if (type === "number") attrs.step = "any";
    var node = ui.el("input", attrs);
    if (field.default !== null && field.default !== undefined && type !== "password") node.value = String(field.default);
    return node;
  }

  function fieldBlock(key, label, control, field) {
    var id = control.id;
    var block = ui.el("div", { className: "field", id: "field-" + id, dataset: { key: key } });
    if (field && field.type === "boolean") {
      block.appendChild(ui.el("label", { className: "checkbox", for: id }, [control, field.label]));
    } else {
      block.appendChild(labelFor(id, label, field ? field.required : true));
      block.appendChild(control);
    }
    var helpNode = help(field && field.help_text);
    if (helpNode) {
      helpNode.id = id + "-help";
      control.setAttribute("aria-describedby", helpNode.id);
      block.appendChild(helpNode);
    }
    return block;
  }

  /** Clears the error marks `showFieldErrors` put into `container`. */
  function clearFieldErrors(container) {
    container.querySelectorAll(".field-error").forEach(function (node) { node.remove(); });
    container.querySelectorAll(".has-error").forEach(function (node) { node.classList.remove("has-error"); });
    container.querySelectorAll("[aria-invalid]").forEach(function (node) { node.removeAttribute("aria-invalid"); });
  }

  /**
   * Puts each VALIDATION_ERROR detail beside the `.field` block of `container` whose data-key is the detail's key
   * ("name", "config.base_url", "sync_interval_minutes"); returns the messages that belong to no field.
   */
  function showFieldErrors(container, details) {
    clearFieldErrors(container);
    var unplaced = [];
    var first = null;
    Object.keys(details || {}).forEach(function (key) {
      var messages = [].concat(details[key]).map(String);
      var block = container.querySelector('.field[data-key="' + CSS.escape(key) + '"]');
      if (!block) {
        messages.forEach(function (message) { unplaced.push((key === "config" ? "" : key + ": ") + message); });
        return;
      }
      block.classList.add("has-error");
      // A choice among no integrations has no control: the message still goes beside the field.
      var control = block.querySelector("input, select");
      if (control) control.setAttribute("aria-invalid", "true");
      var errorId = (control ? control.id : block.id) + "-error";
      block.appendChild(ui.el("div", { className: "field-error", id: errorId, text: messages.join(" ") }));
      first = first || control;
    });
    if (first) first.focus();
    return unplaced;
  }

  /**
   * Renders the name field and one field per schema entry into `container`. With `options.sourceChoices`
   * (the organisation's source integrations), a destination's `sources` field is a choice among them.
   */
  function SchemaForm(container, connector, options) {
    this.container = ui.clear(container);
    this.connector = connector;
    this.schema = connector.config_schema || [];
    this.sourcesPicker = null;
    var choices = options && options.sourceChoices;
    var name = ui.el("input", { type: "text", id: "name", name: "name", required: true, maxlength: 255, placeholder: "e.g. " + connector.display_name });
    this.container.appendChild(fieldBlock("name", "Name", name, { required: true, help_text: "How this integration is called in the console." }));
    var self = this;
    this.schema.forEach(function (field) {
      if (field.key === "sources" && choices && T.SourcesPicker.applies(connector)) {
        self.sourcesPicker = new T.SourcesPicker(field, choices, []);
        self.container.appendChild(self.sourcesPicker.block);
        return;
      }
      self.container.appendChild(fieldBlock("config." + field.key, field.label, input(field, "config-" + field.key), field));
    });
  }

  SchemaForm.prototype.control = function (key) {
    return this.container.querySelector(key === "name" ? "#name" : "#config-" + CSS.escape(key));
  };

  /** The body's `name` and `config`: empty optional fields are left out so their defaults apply. */
  SchemaForm.prototype.values = function () {
    var config = {};
    var self = this;
    this.schema.forEach(function (field) {
      if (field.key === "sources" && self.sourcesPicker) {
        var chosen = self.sourcesPicker.value();
        if (chosen !== "") config.sources = chosen;
        return;
      }
      var control = self.control(field.key);
      if (field.type === "boolean") {
        config[field.key] = control.checked;
      } else if (field.type === "select") {
        if (control.value !== "") config[field.key] = field.options[Number(control.value)].value;
      } else if (field.type === "number") {
        if (control.value.trim() !== "") config[field.key] = Number(control.value);
      } else if (control.value !== "") {
        config[field.key] = control.value;
      }
    });
    return { name: this.control("name").value.trim(), config: config };
  };

  SchemaForm.prototype.clearErrors = function () { clearFieldErrors(this.container); };

  /** Puts each VALIDATION_ERROR detail beside its field; returns the messages that belong to no field. */
  SchemaForm.prototype.showErrors = function (details) { return showFieldErrors(this.container, details); };

  T.SchemaForm = SchemaForm;
  T.fieldErrors = { show: showFieldErrors, clear: clearFieldErrors };
  T.fieldBlock = fieldBlock;
})();
