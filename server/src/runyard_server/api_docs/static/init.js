// The API docs page: swagger-ui on this server's OpenAPI document. A file, not an
// inline script, so the Content-Security-Policy can forbid inline scripts here too.
/* global SwaggerUIBundle */
SwaggerUIBundle({
  url: new URL("openapi.json", location.href).href,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  // No calls to swagger.io's validator: the page talks to this server only.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
});
