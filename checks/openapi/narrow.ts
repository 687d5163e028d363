// What a client does with a contact: switch on `access` and use the fields of that shape,
// with no cast. It compiles only while `ContactOut` in the OpenAPI document is a union
// discriminated by `access` (run.sh generates ./generated/crm-api.ts and type-checks this).
import type { components } from "./generated/crm-api";

type Contact = components["schemas"]["ContactOut"];

/** The tags where the caller sees the full contact, else none. */
export function tagsOf(c: Contact): string[] {
  if (c.access === "view" || c.access === "edit" || c.access === "manage") {
    return c.tags;
  }
  return [];
}

/** One line for a contact list, from the fields each shape has. */
export function line(c: Contact): string {
  switch (c.access) {
    case "view":
    case "edit":
    case "manage":
      return `${c.first_name} ${c.last_name} (${c.status ?? "no status"}) ${c.tags.join(", ")}`;
    case "limited":
      return `${c.first_name} ${c.last_name} <${c.email ?? "no email"}>`;
    case "hidden":
      return `contact ${c.id} is no longer visible to you`;
    default: {
      // Every level is handled: a new one in the document fails to compile here.
      const unhandled: never = c;
      return unhandled;
    }
  }
}
