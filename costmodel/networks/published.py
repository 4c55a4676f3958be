def published_table(): raise NotImplementedError
