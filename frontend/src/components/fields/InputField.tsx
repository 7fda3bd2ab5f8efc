import { BooleanField } from "./BooleanField";
import { ChoiceField } from "./ChoiceField";
import { FileField } from "./FileField";
import { NumberField } from "./NumberField";
import { TextField } from "./TextField";
import type { FieldProps, FileValue } from "./types";

/** Draws the control an input's type calls for. */
export function InputField(props: FieldProps) {
  switch (props.spec.type) {
    case "image":
    case "audio":
      return <FileField {...(props as FieldProps<FileValue | undefined>)} />;
    case "integer":
    case "number":
      return <NumberField {...(props as FieldProps<string | undefined>)} />;
    case "choice":
      return <ChoiceField {...(props as FieldProps<string | undefined>)} />;
    case "boolean":
      return <BooleanField {...(props as FieldProps<boolean | undefined>)} />;
    default:
      return <TextField {...(props as FieldProps<string | undefined>)} />;
  }
}
