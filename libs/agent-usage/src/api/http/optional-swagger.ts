import { loadOptional } from '../../common/optional-packages';

/**
 * @nestjs/swagger is an optional peer: when the host has it, the controllers and DTOs carry its
 * decorators (a SwaggerModule document lists every route and parameter); when it is missing, these
 * helpers return decorators that do nothing, so the module loads without it.
 */
type AnyDecorator = (...args: any[]) => void;
type SwaggerDecorators = Record<'ApiTags' | 'ApiProperty' | 'ApiPropertyOptional' | 'ApiOkResponse' | 'ApiProduces' | 'ApiBearerAuth' | 'ApiOperation' | 'ApiExcludeController', (...args: any[]) => AnyDecorator>;

let loaded: SwaggerDecorators | null | undefined;

function swagger(): SwaggerDecorators | null {
  if (loaded === undefined) loaded = loadOptional<SwaggerDecorators>('@nestjs/swagger');
  return loaded;
}

const noop: AnyDecorator = () => undefined;

function optional(name: keyof SwaggerDecorators) {
  return (...args: unknown[]): AnyDecorator => swagger()?.[name](...args) ?? noop;
}

export const ApiTags = optional('ApiTags') as (...tags: string[]) => ClassDecorator & MethodDecorator;
export const ApiProperty = optional('ApiProperty') as (options?: Record<string, unknown>) => PropertyDecorator;
export const ApiPropertyOptional = optional('ApiPropertyOptional') as (options?: Record<string, unknown>) => PropertyDecorator;
export const ApiOkResponse = optional('ApiOkResponse') as (options?: Record<string, unknown>) => MethodDecorator & ClassDecorator;
export const ApiProduces = optional('ApiProduces') as (...mimeTypes: string[]) => MethodDecorator & ClassDecorator;
export const ApiBearerAuth = optional('ApiBearerAuth') as (name?: string) => MethodDecorator & ClassDecorator;
export const ApiOperation = optional('ApiOperation') as (options: { summary: string; description?: string }) => MethodDecorator;
/** For the dashboard's page and assets: they are not part of the API the document describes. */
export const ApiExcludeController = optional('ApiExcludeController') as () => ClassDecorator;
