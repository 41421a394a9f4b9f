// The type a dashboard JSON file must have, built only from Grafana's own published types
// (@grafana/schema, the version of the Grafana we pin). tests/grafana/typecheck.py writes each
// dashboard file into a .ts file as `export const dashboard: DashboardJson = <the file, verbatim>;`
// and runs `tsc --noEmit`: an object literal assigned to a type gets TypeScript's excess property
// check, so an unknown key, a misspelt one or a value of the wrong type is an error at its line.
//
// Two things are added to Grafana's `Dashboard` type, and nothing is loosened but enum nominality:
// * each panel's `options` and `fieldConfig.defaults.custom` are typed by its panel type's published
//   `Options` / `FieldConfig` (Grafana's `Panel` leaves them `Record<string, unknown>`); every option
//   may be left out, as Grafana fills in the plugin's defaults; a panel type not listed here is an
//   error, so a removed or misspelt panel type is caught;
// * string enums (ThresholdsMode, MappingType, FieldColorModeId, ...) are accepted as the strings
//   they stand for, which is how a JSON file spells them.
import type { Dashboard, FieldConfig, FieldConfigSource, Panel, RowPanel } from "@grafana/schema";
import type * as annolist from "@grafana/schema/dist/esm/raw/composable/annotationslist/panelcfg/x/AnnotationsListPanelCfg_types.gen";
import type * as barchart from "@grafana/schema/dist/esm/raw/composable/barchart/panelcfg/x/BarChartPanelCfg_types.gen";
import type * as bargauge from "@grafana/schema/dist/esm/raw/composable/bargauge/panelcfg/x/BarGaugePanelCfg_types.gen";
import type * as candlestick from "@grafana/schema/dist/esm/raw/composable/candlestick/panelcfg/x/CandlestickPanelCfg_types.gen";
import type * as canvas from "@grafana/schema/dist/esm/raw/composable/canvas/panelcfg/x/CanvasPanelCfg_types.gen";
import type * as dashlist from "@grafana/schema/dist/esm/raw/composable/dashboardlist/panelcfg/x/DashboardListPanelCfg_types.gen";
import type * as gauge from "@grafana/schema/dist/esm/raw/composable/gauge/panelcfg/x/GaugePanelCfg_types.gen";
import type * as geomap from "@grafana/schema/dist/esm/raw/composable/geomap/panelcfg/x/GeomapPanelCfg_types.gen";
import type * as heatmap from "@grafana/schema/dist/esm/raw/composable/heatmap/panelcfg/x/HeatmapPanelCfg_types.gen";
import type * as histogram from "@grafana/schema/dist/esm/raw/composable/histogram/panelcfg/x/HistogramPanelCfg_types.gen";
import type * as logs from "@grafana/schema/dist/esm/raw/composable/logs/panelcfg/x/LogsPanelCfg_types.gen";
import type * as news from "@grafana/schema/dist/esm/raw/composable/news/panelcfg/x/NewsPanelCfg_types.gen";
import type * as nodegraph from "@grafana/schema/dist/esm/raw/composable/nodegraph/panelcfg/x/NodeGraphPanelCfg_types.gen";
import type * as piechart from "@grafana/schema/dist/esm/raw/composable/piechart/panelcfg/x/PieChartPanelCfg_types.gen";
import type * as stat from "@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen";
import type * as statetimeline from "@grafana/schema/dist/esm/raw/composable/statetimeline/panelcfg/x/StateTimelinePanelCfg_types.gen";
import type * as statushistory from "@grafana/schema/dist/esm/raw/composable/statushistory/panelcfg/x/StatusHistoryPanelCfg_types.gen";
import type * as table from "@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen";
import type * as text from "@grafana/schema/dist/esm/raw/composable/text/panelcfg/x/TextPanelCfg_types.gen";
import type * as timeseries from "@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen";
import type * as trend from "@grafana/schema/dist/esm/raw/composable/trend/panelcfg/x/TrendPanelCfg_types.gen";
import type * as xychart from "@grafana/schema/dist/esm/raw/composable/xychart/panelcfg/x/XYChartPanelCfg_types.gen";

/** Every property optional, all the way down (arrays keep their element type, itself deep-partial). */
type DeepPartial<T> = T extends readonly (infer U)[] ? DeepPartial<U>[] : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;

/** No custom field config: the panel type publishes none. */
type NoCustom = Record<string, never>;

/** A panel of type `K` whose options and custom field config are that panel type's own types. */
type PanelOf<K extends string, Options, Custom> = Omit<Panel, "type" | "options" | "fieldConfig"> & {
  type: K;
  options?: DeepPartial<Options>;
  fieldConfig?: Omit<FieldConfigSource, "defaults"> & {
    defaults: Omit<FieldConfig, "custom"> & { custom?: DeepPartial<Custom> };
  };
};

/** The panel types Grafana publishes a schema for (plugin id -> its Options and FieldConfig). */
type KnownPanel =
  | PanelOf<"annolist", annolist.Options, NoCustom>
  | PanelOf<"barchart", barchart.Options, barchart.FieldConfig>
  | PanelOf<"bargauge", bargauge.Options, NoCustom>
  | PanelOf<"candlestick", candlestick.Options, candlestick.FieldConfig>
  | PanelOf<"canvas", canvas.Options, NoCustom>
  | PanelOf<"dashlist", dashlist.Options, NoCustom>
  | PanelOf<"gauge", gauge.Options, NoCustom>
  | PanelOf<"geomap", geomap.Options, NoCustom>
  | PanelOf<"heatmap", heatmap.Options, heatmap.FieldConfig>
  | PanelOf<"histogram", histogram.Options, histogram.FieldConfig>
  | PanelOf<"logs", logs.Options, NoCustom>
  | PanelOf<"news", news.Options, NoCustom>
  | PanelOf<"nodeGraph", nodegraph.Options, NoCustom>
  | PanelOf<"piechart", piechart.Options, piechart.FieldConfig>
  | PanelOf<"stat", stat.Options, NoCustom>
  | PanelOf<"state-timeline", statetimeline.Options, statetimeline.FieldConfig>
  | PanelOf<"status-history", statushistory.Options, statushistory.FieldConfig>
  | PanelOf<"table", table.Options, table.FieldConfig>
  | PanelOf<"text", text.Options, NoCustom>
  | PanelOf<"timeseries", timeseries.Options, timeseries.FieldConfig>
  | PanelOf<"trend", trend.Options, trend.FieldConfig>
  | PanelOf<"xychart", xychart.Options, xychart.FieldConfig>;

type TypedDashboard = Omit<Dashboard, "panels"> & {
  panels?: Array<KnownPanel | (Omit<RowPanel, "panels"> & { panels: KnownPanel[] })>;
};

/** `T` as a JSON file spells it: a string enum member is the string it stands for ("absolute"). */
type AsJson<T> = T extends string
  ? `${T}`
  : T extends readonly (infer U)[]
    ? AsJson<U>[]
    : T extends object
      ? { [K in keyof T]: AsJson<T[K]> }
      : T;

export type DashboardJson = AsJson<TypedDashboard>;
