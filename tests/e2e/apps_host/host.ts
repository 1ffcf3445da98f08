// A minimal MCP Apps host for the browser test, built from the official SDKs: the TypeScript MCP
// client speaks Streamable HTTP to the real server, and ext-apps' AppBridge + PostMessageTransport
// drive the approval card in a sandboxed iframe, as Claude, VS Code and other hosts do.
import { Client, StreamableHTTPClientTransport } from "@modelcontextprotocol/client";
import { AppBridge, PostMessageTransport } from "@modelcontextprotocol/ext-apps/app-bridge";

const UI_EXTENSION = "io.modelcontextprotocol/ui";
const APP_MIME_TYPE = "text/html;profile=mcp-app";

interface HostRecord {
  openedLinks: string[];
  appToolCalls: { name: string; arguments?: Record<string, unknown> }[];
}

const record: HostRecord = { openedLinks: [], appToolCalls: [] };
let connected: Promise<Client> | null = null;

async function connect(): Promise<Client> {
  const client = new Client(
    { name: "opentrain-test-host", version: "1.0.0" },
    { capabilities: { extensions: { [UI_EXTENSION]: { mimeTypes: [APP_MIME_TYPE] } } } },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL("/mcp", location.href)));
  return client;
}

// Call a tool like a chat host would, then render its linked app with the tool's input and result.
async function showToolCall(slot: string, name: string, args: Record<string, unknown>) {
  connected ??= connect();
  const client = await connected;
  const { tools } = await client.listTools();
  const tool = tools.find((t) => t.name === name);
  const uri = (tool?._meta?.ui as { resourceUri?: string } | undefined)?.resourceUri;
  if (!uri) throw new Error(`${name} links no app`);
  const resource = await client.readResource({ uri });
  const content = resource.contents[0] as { text: string; mimeType?: string; _meta?: Record<string, unknown> };
  const result = await client.callTool({ name, arguments: args });

  const iframe = document.createElement("iframe");
  iframe.id = slot;
  iframe.setAttribute("sandbox", "allow-scripts");
  iframe.title = `${name} app`;
  document.getElementById("chat")!.append(iframe);

  const bridge = new AppBridge(
    null,
    { name: "opentrain-test-host", version: "1.0.0" },
    { openLinks: {}, serverTools: {} },
    { hostContext: { theme: "light", locale: "en-US", timeZone: "America/New_York", displayMode: "inline" } },
  );
  bridge.oncalltool = async (params) => {
    record.appToolCalls.push({ name: params.name, arguments: params.arguments });
    return client.callTool(params);
  };
  bridge.onopenlink = async ({ url }) => {
    record.openedLinks.push(url);
    return {};
  };
  bridge.onsizechange = ({ height }) => {
    if (height) iframe.style.height = `${height}px`;
  };
  const initialized = new Promise<void>((resolve) => {
    bridge.oninitialized = () => resolve();
  });
  await bridge.connect(new PostMessageTransport(iframe.contentWindow!, iframe.contentWindow!));
  iframe.srcdoc = content.text;
  await initialized;
  await bridge.sendToolInput({ arguments: args });
  await bridge.sendToolResult(result);
  return { result, mimeType: content.mimeType, resourceMeta: content._meta };
}

Object.assign(window, { showToolCall, hostRecord: record });
