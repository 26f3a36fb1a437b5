package consoletest

import jsonv2 "github.com/chromedp/cdproto/cdp/jsonv2"

func unmarshalJSON(data []byte, v any) error { return jsonv2.Unmarshal(data, v) }

func marshalJSON(v any) ([]byte, error) {
	if s, ok := v.([]any); ok && s == nil {
		return []byte("[]"), nil
	}
	return jsonv2.Marshal(v)
}
