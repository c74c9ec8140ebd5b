/** Our components for A2UI's basic catalogue (v0.9), rendered through `@a2ui/react`'s binder
 * (which resolves data bindings, two-way values, checks and actions) with this UI's own markup and
 * styles. Nothing the agent sends becomes HTML or code: text goes through the chat's Markdown
 * (no raw HTML), an image is a link (the page's CSP loads no remote images, as in chat Markdown),
 * and components outside this list are refused by the tool and, if stored anyway, reported by
 * the processor. */
import { useId, useState, type ReactNode } from "react";
import {
  ButtonApi,
  CardApi,
  Catalog,
  CheckBoxApi,
  ChoicePickerApi,
  ColumnApi,
  DividerApi,
  ImageApi,
  ListApi,
  RowApi,
  TabsApi,
  TextApi,
  TextFieldApi,
} from "@a2ui/web_core/v0_9";
import { basicCatalog, createComponentImplementation, type ReactComponentImplementation } from "@a2ui/react/v0_9";
import { Markdown } from "../Markdown";

type Build = (id: string, basePath?: string) => ReactNode;

/** Text for JSX: a binding can resolve to any JSON (an object would make React throw). */
export function str(value: unknown): string {
  if (typeof value === "string") return value;
  if (value === undefined || value === null) return "";
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value) ?? "";
}
type ChildRef = string | { id: string; basePath?: string };

function Children({ list, build }: { list: unknown; build: Build }) {
  if (!Array.isArray(list)) return null;
  return (
    <>
      {(list as ChildRef[]).map((child, i) =>
        typeof child === "string" ? <span key={`${child}-${i}`} className="a2ui-slot">{build(child)}</span> : (
          <span key={`${child.id}-${child.basePath ?? i}`} className="a2ui-slot">{build(child.id, child.basePath)}</span>
        ),
      )}
    </>
  );
}

const HEADINGS = { h1: "h3", h2: "h4", h3: "h5", h4: "h6", h5: "h6" } as const;

const Text = createComponentImplementation(TextApi, ({ props }) => {
  const text = str(props.text);
  const variant = props.variant as string | undefined;
  if (variant && variant in HEADINGS) {
    const Tag = HEADINGS[variant as keyof typeof HEADINGS];
    return <Tag className={`a2ui-text a2ui-${variant}`}>{text}</Tag>;
  }
  if (variant === "caption") return <span className="a2ui-text a2ui-caption muted small">{text}</span>;
  return (
    <div className="a2ui-text">
      <Markdown text={text} />
    </div>
  );
});

const Image = createComponentImplementation(ImageApi, ({ props }) => {
  const url = str(props.url);
  const safe = /^https?:\/\//i.test(url);
  const label = str(props.description) || url || "an image";
  return safe ? (
    <a className="a2ui-image" href={url} target="_blank" rel="noreferrer noopener">
      🖼 {label}
    </a>
  ) : (
    <span className="a2ui-image muted">🖼 {label}</span>
  );
});

const Row = createComponentImplementation(RowApi, ({ props, buildChild }) => (
  <div className={`a2ui-row a2ui-justify-${props.justify ?? "start"} a2ui-align-${props.align ?? "stretch"}`}>
    <Children list={props.children} build={buildChild as Build} />
  </div>
));

const Column = createComponentImplementation(ColumnApi, ({ props, buildChild }) => (
  <div className={`a2ui-column a2ui-justify-${props.justify ?? "start"} a2ui-align-${props.align ?? "stretch"}`}>
    <Children list={props.children} build={buildChild as Build} />
  </div>
));

const List = createComponentImplementation(ListApi, ({ props, buildChild }) => (
  <div className={`a2ui-list a2ui-${props.direction === "horizontal" ? "row" : "column"}`} role="list">
    <Children list={props.children} build={buildChild as Build} />
  </div>
));

const Card = createComponentImplementation(CardApi, ({ props, buildChild }) => (
  <div className="a2ui-card">{props.child ? buildChild(props.child) : null}</div>
));

const Tabs = createComponentImplementation(TabsApi, ({ props, buildChild }) => {
  const [selected, setSelected] = useState(0);
  const tabs = (props.tabs ?? []) as { title?: string; child: string }[];
  const active = tabs[Math.min(selected, Math.max(tabs.length - 1, 0))];
  return (
    <div className="a2ui-tabs">
      <div className="a2ui-tab-list" role="tablist">
        {tabs.map((tab, i) => (
          <button key={i} type="button" role="tab" aria-selected={i === selected} className={i === selected ? "active" : ""} onClick={() => setSelected(i)}>
            {str(tab.title)}
          </button>
        ))}
      </div>
      <div role="tabpanel">{active ? buildChild(active.child) : null}</div>
    </div>
  );
});

const Divider = createComponentImplementation(DividerApi, ({ props }) => (
  <hr className={`a2ui-divider${props.axis === "vertical" ? " vertical" : ""}`} />
));

const Button = createComponentImplementation(ButtonApi, ({ props, buildChild }) => (
  <button
    type="button"
    className={`a2ui-button${props.variant === "primary" ? " primary" : ""}${props.variant === "borderless" ? " borderless" : ""}`}
    onClick={() => props.action?.()}
    disabled={props.isValid === false}
  >
    {props.child ? buildChild(props.child) : null}
  </button>
));

function FieldErrors({ errors }: { errors?: string[] }) {
  return errors && errors.length > 0 ? <span className="a2ui-error error small">{str(errors[0])}</span> : null;
}

const TextField = createComponentImplementation(TextFieldApi, ({ props }) => {
  const id = useId();
  const value = props.value === undefined || props.value === null ? "" : String(props.value);
  // No password field: the tool refuses `obscured`, and an older stored one is a plain field.
  const type = props.variant === "number" ? "number" : "text";
  return (
    <div className="a2ui-field">
      {props.label && (
        <label className="a2ui-label" htmlFor={id}>
          {str(props.label)}
        </label>
      )}
      {props.variant === "longText" ? (
        <textarea id={id} value={value} onChange={(e) => props.setValue?.(e.target.value)} rows={4} />
      ) : (
        <input id={id} type={type} value={value} onChange={(e) => props.setValue?.(e.target.value)} />
      )}
      <FieldErrors errors={props.validationErrors} />
    </div>
  );
});

const CheckBox = createComponentImplementation(CheckBoxApi, ({ props }) => (
  <div className="a2ui-field">
    <label className="a2ui-checkbox">
      <input type="checkbox" checked={!!props.value} onChange={(e) => props.setValue?.(e.target.checked)} />
      <span>{str(props.label)}</span>
    </label>
    <FieldErrors errors={props.validationErrors} />
  </div>
));

const ChoicePicker = createComponentImplementation(ChoicePickerApi, ({ props }) => {
  const name = useId();
  const values = Array.isArray(props.value) ? (props.value as string[]) : [];
  const single = props.variant === "mutuallyExclusive";
  const options = (props.options ?? []) as { label?: string; value: string }[];
  const toggle = (value: string, on: boolean) =>
    props.setValue?.(single ? [value] : on ? [...values.filter((v) => v !== value), value] : values.filter((v) => v !== value));
  return (
    <fieldset className="a2ui-choice">
      {props.label && <legend>{str(props.label)}</legend>}
      {options.map((option, i) => (
        <label key={`${str(option.value)}-${i}`}>
          <input
            type={single ? "radio" : "checkbox"}
            name={name}
            checked={values.includes(option.value)}
            onChange={(e) => toggle(option.value, e.target.checked)}
          />
          <span>{str(option.label ?? option.value)}</span>
        </label>
      ))}
      <FieldErrors errors={props.validationErrors} />
    </fieldset>
  );
});

/** The components this UI renders: the list (a heading is a Text variant) and Divider. */
export const COMPONENTS: ReactComponentImplementation[] = [
  Text,
  Image,
  Button,
  TextField,
  CheckBox,
  ChoicePicker,
  List,
  Card,
  Row,
  Column,
  Tabs,
  Divider,
];

/** The basic functions not offered: a value is evaluated as soon as it is shown, so `openUrl`
 * would open windows nobody clicked for, and `regex` runs the agent's pattern (which could hang
 * the page). The tool refuses both by name. */
export const REFUSED_FUNCTIONS = ["openUrl", "regex"];

/** Our catalogue under the basic catalogue's id (the one models know), with the basic functions
 * (`required`, `email`, `length`, `formatString`, …) but those above. */
export const catalog = new Catalog(
  basicCatalog.id,
  COMPONENTS,
  [...basicCatalog.functions.values()].filter((f) => !REFUSED_FUNCTIONS.includes(f.name)),
);
